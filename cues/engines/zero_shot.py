"""CLIP zero-shot over places (`ZeroShotClip`, built once per pipeline, loaded on first use): any
CLIP checkpoint (StreetCLIP, a CLIP fine-tuned to name countries, or plain OpenAI CLIP) scores a
photo against text prompts that describe each class, and a softmax over the classes gives
p(class | photo) under the uniform prior over classes that zero-shot classification assumes.

The prompt templates live in a YAML file (`cues/data/clip_prompts.yaml` by default); the text
embeddings of a set of prompts depend only on the weights, so they are cached on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from geosleuth.cache import shared
from geosleuth.cues.engines.clip import (availability, cached_array, checkpoint_folder, fingerprint, pick_device,
                                         projected, quiet_loading, require_transformers)
from geosleuth.errors import ConfigError
from geosleuth.photo import Photo

DEFAULT_PROMPTS = Path(__file__).parents[1] / "data" / "clip_prompts.yaml"


@dataclass(frozen=True, eq=False)
class LoadedClip:
    """A CLIP model and its processor, ready for inference."""

    model: Any  # transformers.CLIPModel, eval mode, on `device`
    processor: Any  # transformers.CLIPProcessor
    device: str
    weights: Path  # the checkpoint folder

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """(n, d) unit image embeddings of PIL images."""
        import torch

        with torch.inference_mode():
            pixels = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt")["pixel_values"]
            out = projected(self.model.get_image_features(pixel_values=pixels.to(self.device)))
            return torch.nn.functional.normalize(out.float(), dim=1).cpu().numpy()

    def embed_texts(self, texts: Sequence[str], batch: int = 256) -> np.ndarray:
        """(n, d) unit text embeddings."""
        import torch

        rows = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                tokens = self.processor(text=list(texts[i:i + batch]), return_tensors="pt", padding=True,
                                        truncation=True).to(self.device)
                out = projected(self.model.get_text_features(**tokens))
                rows.append(torch.nn.functional.normalize(out.float(), dim=1).cpu().numpy())
        return np.concatenate(rows)


class ZeroShotClip:
    """The config's `zero_shot` section: the CLIP checkpoint, the prompt file, whether the
    checkpoint may be downloaded, and the device."""

    def __init__(self, model: str, prompts: str, allow_download: bool, device: str) -> None:
        self.model = model
        self.prompts = prompts
        self.allow_download = allow_download
        self.device = device

    def __repr__(self) -> str:
        return f"ZeroShotClip({self.model!r})"

    @cached_property
    def templates(self) -> Mapping[str, Any]:
        """The prompt file: templates per level (`country`, `region`) and country `names`."""
        import yaml

        path = DEFAULT_PROMPTS if self.prompts in ("", "default") else Path(self.prompts).expanduser()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"zero_shot.prompts: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict) or not data.get("country") or \
                not all(isinstance(t, str) and "{country}" in t for t in data["country"]):
            raise ConfigError(f"zero_shot.prompts: {path} needs a `country` list of templates with {{country}}")
        return data

    def available(self) -> tuple[bool, str]:
        """Whether the packages and weights are here (never downloads)."""
        return availability(self.model, allow_download=self.allow_download, setting="zero_shot.model",
                            packages=("transformers", "torch"), described=f"CLIP zero-shot with {self.model}")

    def loaded(self) -> LoadedClip:
        """The model, loaded once per process and settings."""
        return shared(("zero_shot", self.model, self.device), self._load)

    def image_embeddings(self, photos: Sequence[Photo]) -> list[np.ndarray]:
        """Each photo's unit image embedding, computed in one batch and memoised on the photo."""
        return Photo.memo_many(photos, (self, "image_embedding"),
                               lambda todo: list(self.loaded().embed_images([p.image for p in todo])))

    def class_embeddings(self, prompt_sets: tuple[tuple[str, ...], ...]) -> np.ndarray:
        """(K, d) one unit embedding per class: the mean of its prompts' embeddings (once per
        process, and once per machine for a checkpoint and set of prompts)."""
        clip = self.loaded()  # not inside `build`: `shared` builds under its lock

        def build() -> np.ndarray:
            def embed() -> np.ndarray:
                flat = [p for prompts in prompt_sets for p in prompts]
                sizes = [len(prompts) for prompts in prompt_sets]
                rows = np.add.reduceat(clip.embed_texts(flat), np.cumsum([0] + sizes[:-1]), axis=0)
                return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

            key = fingerprint(*sorted(clip.weights.glob("*")), prompt_sets)
            return cached_array("clip-prompts", key, embed)

        # Keyed by the prompts themselves: no file is looked at again for each photo.
        return shared(("zero_shot_classes", self.model, self.device, prompt_sets), build)

    def probabilities(self, photo: Photo, prompt_sets: tuple[tuple[str, ...], ...]) -> np.ndarray:
        """p(class | photo) over the classes the prompt sets describe (a softmax at CLIP's scale)."""
        image = self.image_embeddings([photo])[0]
        logits = self.loaded().logit_scale * (self.class_embeddings(prompt_sets) @ image)
        z = np.exp(logits - logits.max())
        return z / z.sum()

    def _load(self) -> LoadedClip:
        require_transformers()
        from transformers import CLIPModel, CLIPProcessor

        folder = checkpoint_folder(self.model, allow_download=self.allow_download, setting="zero_shot.model")
        device = pick_device(self.device)
        with quiet_loading():
            model = CLIPModel.from_pretrained(folder).eval().to(device)
            processor = CLIPProcessor.from_pretrained(folder)
        return LoadedClip(model, processor, device, folder)
