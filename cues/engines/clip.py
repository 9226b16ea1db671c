"""What the CLIP-based visual backends (GeoCLIP, CLIP zero-shot) share: where a checkpoint's
weights come from, which device runs them, and arrays derived from the weights cached on disk.

A checkpoint is a local folder in Hugging Face layout or a Hub id. A Hub id is looked up in the
Hugging Face cache without touching the network; it is downloaded only when the config allows
it (`allow_download`). Otherwise the cue abstains with the exact command that fetches it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from geosleuth.cache import cache_dir
from geosleuth.errors import GeosleuthError, MissingDependencyError, WeightsNotFoundError
from geosleuth.libraries import contain

# What a CLIP checkpoint needs: configs, tokenizer files and the safetensors weights (Hub repos
# often also carry PyTorch, TensorFlow and Flax copies, several GB that are never read). A repo
# without safetensors is fetched with its PyTorch weights instead.
HUB_FILES = ("*.json", "*.txt", "model*.safetensors")
TORCH_WEIGHTS = "pytorch_model*.bin"
INSTALL = "pip install 'geosleuth[geoclip]'"


def download_command(model: str) -> str:
    """The command that puts a Hub checkpoint into the Hugging Face cache (run where online)."""
    return f"hf download {model} " + " ".join(f"--include '{pattern}'" for pattern in HUB_FILES)


def is_local(model: str) -> bool:
    """Whether a model setting names a folder rather than a Hub id ('owner/name')."""
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") != 1


def require_transformers() -> None:
    contain()  # before transformers and the Hugging Face hub are imported
    if importlib.util.find_spec("transformers") is None:
        raise MissingDependencyError(f"the CLIP backends need transformers: {INSTALL}")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Load without transformers' progress bars and advice on stderr (restored afterwards)."""
    from transformers.utils import logging

    bars, verbosity = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def projected(output: Any) -> Any:
    """The projected embedding from `get_image_features` / `get_text_features` (a tensor in
    transformers 4, an output whose `pooler_output` holds it in transformers 5)."""
    return output if hasattr(output, "shape") else output.pooler_output


def availability(model: str, *, allow_download: bool, setting: str, packages: Sequence[str],
                 described: str) -> tuple[bool, str]:
    """Whether a CLIP backend can run here: its packages installed and `model`'s weights found
    (never downloads; with `allow_download`, missing weights are fetched on first use)."""
    missing = [m for m in packages if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"needs {', '.join(missing)} ({INSTALL})"
    try:
        folder = checkpoint_folder(model, allow_download=False, setting=setting)
    except GeosleuthError as exc:
        if allow_download:
            return True, f"{described}: {model} is downloaded on first use"
        return False, str(exc)
    return True, f"{described} ({folder})"


def checkpoint_folder(model: str, *, allow_download: bool, setting: str) -> Path:
    """The local folder holding `model`'s weights: the folder itself, its copy in the Hugging Face
    cache, or (only when `allow_download`) a fresh download. `setting` names the config key, for
    the error message."""
    if is_local(model):
        folder = Path(model).expanduser()
        if not has_weights(folder):
            raise WeightsNotFoundError(f"{setting}: no CLIP checkpoint (config.json and model weights) in {folder}")
        return folder
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model, allow_patterns=list(HUB_FILES), local_files_only=True))
        if has_weights(folder):
            return folder
        raise FileNotFoundError(f"{folder} holds no weights")
    except Exception as exc:  # not cached (LocalEntryNotFoundError), or cached without its weights
        if not allow_download:
            raise WeightsNotFoundError(
                f"{model} weights are not in the Hugging Face cache; get them where online with "
                f"`{download_command(model)}`, point {setting} at a local copy, or allow the download "
                f"with --set {setting.rsplit('.', 1)[0]}.allow_download=true") from exc
    try:
        folder = Path(snapshot_download(model, allow_patterns=list(HUB_FILES)))
        if not has_weights(folder):
            folder = Path(snapshot_download(model, allow_patterns=[TORCH_WEIGHTS]))
    except Exception as exc:  # offline, unknown repo, gated model
        raise WeightsNotFoundError(f"could not download {model}: {exc}") from exc
    if not has_weights(folder):
        raise WeightsNotFoundError(f"{model} has no model weights that transformers can load")
    return folder


def has_weights(folder: Path) -> bool:
    """Whether a folder holds a transformers checkpoint: its config and its weights."""
    return (folder / "config.json").is_file() and (any(folder.glob("model*.safetensors"))
                                                   or any(folder.glob(TORCH_WEIGHTS)))


def pick_device(spec: str) -> str:
    """A torch device for `spec`: "auto" is the first of cuda, mps and cpu that is present."""
    import torch

    if spec != "auto":
        try:
            torch.empty(0, device=spec)
        except (RuntimeError, AssertionError) as exc:
            raise GeosleuthError(f"device {spec!r} cannot be used here: {exc}") from exc
        return spec
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def fingerprint(*parts: Any) -> str:
    """A short hash of files (by size and modification time) and values, for cache names."""
    h = hashlib.sha1()
    for part in parts:
        if isinstance(part, Path) and part.is_file():
            stat = part.stat()
            part = (str(part.resolve()), stat.st_size, stat.st_mtime_ns)
        h.update(repr(part).encode())
    return h.hexdigest()[:16]


def cached_array(name: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """An array derived from model weights (gallery or prompt embeddings), computed once per
    machine and kept in the cache folder; an unwritable cache only costs the recomputation."""
    path = cache_dir() / "models" / f"{name}-{key}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a torn write: compute again
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, value)
        tmp.replace(path)
    except OSError:
        pass
    return value


def write_random_checkpoint(folder: str | Path, *, width: int = 32, layers: int = 1, patch: int = 32,
                            seed: int = 0) -> Path:
    """A randomly initialised CLIP checkpoint folder in Hugging Face layout, with a letter-level
    tokenizer and 768-d projections (what GeoCLIP's image MLP takes): the whole path runs on it
    in tests and benchmarks, nothing downloaded. The defaults make a tiny model."""
    import json

    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz.,-'":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    size = dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=max(2, width // 64),
                num_hidden_layers=layers)
    config = CLIPConfig(projection_dim=768, vision_config=dict(size, patch_size=patch, image_size=224),
                        text_config=dict(size, vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0,
                                         eos_token_id=1, pad_token_id=1))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIPModel(config)
    with quiet_loading():
        model.save_pretrained(folder)
        tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
        CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder
