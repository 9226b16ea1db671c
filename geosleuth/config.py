"""Configuration: YAML files that override `configs/default.yaml`, which is the schema and holds
every default. Each value is checked for its type (the default's), its range (`RANGES`) or its
choices (`CHOICES`) before any model loads.

Cue sections: the YAML's own cues, plus cues registered by plugins (`register_cue_schema`,
called by `cues.registry.register_cue` with the constructor's defaults).
"""

from __future__ import annotations

import copy
import math
import os
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from geosleuth.errors import ConfigError, did_you_mean

Config = dict[str, Any]

# Inclusive bounds of every number in the schema ("*" matches one key); a test holds every
# numeric key of default.yaml to having one.
RANGES: dict[str, tuple[float, float]] = {
    "prior.smoothing": (1e-6, 1e6),
    "prior.exponent": (0.05, 2.0),
    "prior.population": (0.0, 0.5),
    "prior.land": (0.0, 0.5),
    "output.top_k": (1, 1000),
    "output.credible_mass": (0.01, 0.999),
    "output.min_separation_km": (0.0, 20000.0),
    "image.max_pixels": (1, 2_000_000_000),
    "image.max_side": (64, 16384),
    "batch.workers": (1, 256),
    "batch.size": (1, 256),
    "ocr.canvas_size": (64, 4096),
    "ocr.min_confidence": (0.0, 1.0),
    "detector.imgsz": (32, 4096),
    "detector.conf": (0.0, 1.0),
    "features.image_size": (32, 1024),
    "cues.*.weight": (0.0, 100.0),
    "cues.*.floor": (1e-12, 0.999),
    "cues.visual.gallery_cells": (1, 1000),
    "cues.visual.gallery_neighbours": (1, 10000),
    "cues.visual.cluster_km": (0.01, 20000.0),
    "cues.exif.offset_mismatch": (0.0, 1.0),
    "cues.exif.disagreement": (0.0, 1.0),
    "cues.text.max_places": (0, 100),
    "cues.text.residual_scale": (0.0, 1.0),
    "cues.vlm.timeout_s": (0.1, 3600.0),
    "cues.vlm.max_side": (64, 8192),
    "cues.vlm.in_flight": (1, 64),
}
# Values (or list items) that must be one of a set.
CHOICES: dict[str, tuple[str, ...]] = {
    "prior.kind": ("photo_density", "uniform"),
    "output.decision": ("expected_geoscore", "most_probable"),
    "ocr.backends": ("scripts", "easyocr", "tesseract"),
    "ocr.precision": ("auto", "bf16", "fp32"),
    "cues.visual.backend": ("heads", "geoclip", "clip_zero_shot"),
}
CUE_KEYS = ("enabled", "weight", "floor")  # what every cue section has besides its own parameters

_PLUGIN_CUES: dict[str, dict[str, Any]] = {}


def _read_yaml(path: Path | Any) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level, got {type(data).__name__}")
    return data


def config_names() -> list[str]:
    """Names of the configs shipped with geosleuth ('default', 'prior-only', ...)."""
    return sorted(p.name[:-5] for p in resources.files("geosleuth.configs").iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=1)
def _defaults() -> Config:
    return _read_yaml(resources.files("geosleuth.configs") / "default.yaml")


def default_config() -> Config:
    """A fresh copy of the default configuration, plugin cues' sections included."""
    config = copy.deepcopy(_defaults())
    for name, section in _PLUGIN_CUES.items():
        config["cues"].setdefault(name, copy.deepcopy(section))
    return config


def cue_section(name: str) -> dict[str, Any]:
    """The default section of one cue (enabled, weight, floor and its parameters)."""
    sections = default_config()["cues"]
    if name not in sections:
        raise ConfigError(f"unknown cue {name!r}{did_you_mean(name, list(sections))}; "
                          f"available: {', '.join(sorted(sections))}")
    return sections[name]


def register_cue_schema(name: str, parameters: Mapping[str, Any]) -> None:
    """Make a plugin cue's section known: enabled, weight 1, floor 1e-3 and its parameters' defaults."""
    _PLUGIN_CUES[name] = {"enabled": True, "weight": 1.0, "floor": 1e-3, **parameters}


def unregister_cue_schema(name: str) -> None:
    _PLUGIN_CUES.pop(name, None)


def load_config(spec: str | Path | Mapping[str, Any] | None = "default", *, overrides: Mapping[str, Any] | None = None,
                sets: list[str] | tuple[str, ...] = ()) -> Config:
    """The effective config: defaults <- named/path/dict config <- overrides <- `key=value` sets.

    >>> load_config("default", sets=["output.top_k=3"])["output"]["top_k"]
    3
    """
    config = default_config()
    if not isinstance(spec, (str, os.PathLike, Mapping, type(None))):
        raise ConfigError(f"a config is a shipped name, a YAML path or a mapping, not {type(spec).__name__}")
    if spec is None or (isinstance(spec, str) and spec == "default"):
        layer: Mapping[str, Any] = {}
    elif isinstance(spec, Mapping):
        layer = spec
    else:
        names = config_names()
        path = Path(spec).expanduser()
        if isinstance(spec, str) and spec in names:
            layer = _read_yaml(resources.files("geosleuth.configs") / f"{spec}.yaml")
        elif path.is_file():
            layer = _read_yaml(path)
        else:
            raise ConfigError(f"no config named or at {str(spec)!r}{did_you_mean(str(spec), names)}; "
                              f"shipped configs: {', '.join(names)}")
    _merge(config, layer, "")
    _merge(config, overrides or {}, "")
    for item in sets:
        _merge(config, parse_set(item), "")
    validate(config)
    return config


def parse_set(item: str) -> dict[str, Any]:
    """'a.b=value' -> {'a': {'b': value}}, the value parsed as a YAML scalar."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def setting(config: Config, key: str) -> Any:
    """The value of a dotted setting ('cues.visual.gallery'), None where the config has none.

    >>> setting(load_config("default"), "output.decision")
    'expected_geoscore'
    """
    node: Any = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _merge(base: dict[str, Any], layer: Mapping[str, Any], where: str) -> None:
    if not isinstance(layer, Mapping):
        raise ConfigError(f"config key {where.rstrip('.')!r} must be a mapping, got {layer!r}")
    for key, value in layer.items():
        path = f"{where}{key}"
        if key not in base:
            what = f"cue {key!r}" if where == "cues." else f"config key {path!r}"
            raise ConfigError(f"unknown {what}{did_you_mean(str(key), list(base))}")
        if where == "cues." and isinstance(value, bool):  # `exif: false` turns a cue off
            value = {"enabled": value}
        current = base[key]
        if isinstance(current, dict):
            _merge(current, value, f"{path}.")
        else:
            base[key] = _check_type(path, current, value)


def _check_type(path: str, current: Any, value: Any) -> Any:
    if current is None:  # optional paths, and plugin parameters without a default: any scalar
        if not isinstance(value, (Mapping, list)):
            return value
    elif isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, str):  # YAML reads "1e-6" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, (list, tuple)):
        if isinstance(value, (list, tuple)) and all(isinstance(v, type(current[0])) for v in value if current):
            return list(value)
    elif isinstance(value, type(current)):
        return value
    expected = "a single value" if current is None else type(current).__name__
    if isinstance(current, list) and current:
        expected = f"a list of {type(current[0]).__name__}"
    raise ConfigError(f"config key {path!r} expects {expected}, got {value!r}")


def _leaves(node: Mapping[str, Any], where: str = ""):
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{where}{key}.")
        else:
            yield f"{where}{key}", value


def range_of(path: str) -> tuple[float, float] | None:
    """The allowed range of a numeric key, e.g. range_of('cues.text.weight') -> (0.0, 100.0)."""
    return next((r for pattern, r in RANGES.items() if fnmatchcase(path, pattern)), None)


def validate(config: Config) -> None:
    """Every number finite and in its range, every choice known."""
    for path, value in _leaves(config):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            bounds = range_of(path)
            if not math.isfinite(value) or (bounds is not None and not bounds[0] <= value <= bounds[1]):
                where = f"[{bounds[0]:g}, {bounds[1]:g}]" if bounds else "finite"
                raise ConfigError(f"{path} must be in {where}, got {value!r}")
        if path in CHOICES:
            for item in value if isinstance(value, list) else [value]:
                if item not in CHOICES[path]:
                    raise ConfigError(f"{path}: unknown value {item!r}{did_you_mean(str(item), CHOICES[path])}; "
                                      f"expected {' | '.join(CHOICES[path])}")
