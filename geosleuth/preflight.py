"""Settings that name a model or a file, checked before any photo: one the user changed from the
default must be usable here, else a `ConfigError` (exit 2) says why and how to fix it; a default
model that is missing only makes its cues abstain, and `geosleuth cues` says how to get it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from geosleuth.config import Config, default_config, setting
from geosleuth.cues.engines.gallery import GALLERY_FORMAT
from geosleuth.cues.engines.heads import HEADS_FORMAT
from geosleuth.errors import ConfigError, GeosleuthError
from geosleuth.fusion.grid import GRID_FORMAT

if TYPE_CHECKING:
    from geosleuth.cues.engines import Engines


def check_named_models(config: Config, engines: "Engines") -> None:
    """Raise `ConfigError` listing every changed model or file setting that cannot be used here."""
    defaults = default_config()
    problems = [f"{key}={value}: {why}" for key in CHECKS
                if (value := setting(config, key)) not in (setting(defaults, key), None, "")
                and (why := unusable(key, config, engines))]
    if problems:
        raise ConfigError("settings that cannot be used here:\n  " + "\n  ".join(problems))


def unusable(key: str, config: Config, engines: "Engines") -> str:
    """Why the model or file that setting `key` names cannot be used here ('' when it can)."""
    try:
        return CHECKS[key](setting(config, key), config, engines)
    except GeosleuthError as exc:
        return str(exc)


def _file(value: Any, *_: Any) -> str:
    return "" if Path(str(value)).expanduser().is_file() else "no such file"


def _folder(value: Any, *_: Any) -> str:
    return "" if Path(str(value)).expanduser().is_dir() else "no such folder"


def _artifact(fmt: str, what: str) -> Callable[..., str]:
    def check(value: Any, *_: Any) -> str:
        from geosleuth.artifact import read_meta

        read_meta(value, fmt, what, ConfigError)
        return ""

    return check


def _engine(name: str) -> Callable[..., str]:
    """The engine this setting configures must be able to run."""

    def check(value: Any, config: Config, engines: "Engines") -> str:
        ok, note = getattr(engines, name).available()
        return "" if ok else note

    return check


def _backbone(value: Any, *_: Any) -> str:
    try:
        import timm
    except ImportError:
        return "needs timm (pip install 'geosleuth[visual]')"
    return "" if timm.is_model(str(value)) else "not a timm model name (timm.list_models() lists them)"


def _backbone_weights(value: Any, config: Config, engines: "Engines") -> str:
    from geosleuth.cues.engines.backbone import EMBEDDED, PRETRAINED, RANDOM

    if value == EMBEDDED:
        return "" if config["features"]["backbone"] == "efficientnet_lite0" else \
            "the embedded weights are EfficientNet-Lite0's"
    if value == PRETRAINED:
        return _pretrained_cached(config["features"]["backbone"])
    if str(value).lower() in RANDOM:
        return ""
    return _file(value)


def _pretrained_cached(backbone: str) -> str:
    """timm's pretrained weights must already be in the Hugging Face cache: geosleuth never
    downloads at run time (timm would retry the network for about a minute, offline)."""
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return "needs timm and huggingface_hub (pip install 'geosleuth[visual]')"
    try:
        hub_id = timm.models.get_pretrained_cfg(backbone).hf_hub_id
    except Exception:
        hub_id = None
    if not hub_id:
        return f"timm has no Hugging Face weights for {backbone}"
    for name in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(hub_id, name), str):
            return ""
    return f"not in the Hugging Face cache; fetch them once, online: hf download {hub_id}"


def _visual_backend(value: Any, config: Config, engines: "Engines") -> str:
    engine = {"geoclip": "geoclip", "clip_zero_shot": "zero_shot", "heads": "features"}[value]
    return _engine(engine)(value, config, engines)


# The settings that name a model or a file, each with the check of what it names.
CHECKS: dict[str, Callable[..., str]] = {
    "grid": _artifact(GRID_FORMAT, "grid"),
    "ocr.backends": _engine("ocr"),
    "ocr.model_dir": _folder,
    "detector.weights": _engine("detector"),
    "features.backbone": _backbone,
    "features.weights": _backbone_weights,
    "features.heads": _artifact(HEADS_FORMAT, "visual heads"),
    "geoclip.model": _engine("geoclip"),
    "zero_shot.model": _engine("zero_shot"),
    "zero_shot.prompts": _file,
    "cues.visual.backend": _visual_backend,
    "cues.visual.gallery": _artifact(GALLERY_FORMAT, "gallery"),
    "cues.detect.plate_weights": _file,
    "cues.detect.sign_weights": _file,
}
