"""Configuration: YAML files that override `configs/default.yaml`, which is also the schema."""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from geosleuth.errors import ConfigError, did_you_mean

Config = dict[str, Any]
_CUE_KEYS = {"enabled": bool, "weight": float, "floor": float}


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
    """A fresh copy of the default configuration."""
    return copy.deepcopy(_defaults())


def load_config(spec: str | Path | Mapping[str, Any] | None = "default", *, overrides: Mapping[str, Any] | None = None,
                sets: list[str] | tuple[str, ...] = ()) -> Config:
    """The effective config: defaults <- named/path/dict config <- overrides <- `key=value` sets.

    >>> load_config("default", sets=["output.top_k=3"])["output"]["top_k"]
    3
    """
    config = default_config()
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


def _merge(base: dict[str, Any], layer: Mapping[str, Any], where: str) -> None:
    for key, value in layer.items():
        path = f"{where}{key}"
        if where == "cues.":
            _merge_cue(base, str(key), value)
            continue
        if key not in base:
            raise ConfigError(f"unknown config key {path!r}{did_you_mean(str(key), list(base))}")
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {path!r} must be a mapping, got {value!r}")
            _merge(current, value, f"{path}.")
        else:
            base[key] = _check_type(path, current, value)


def _merge_cue(cues: dict[str, Any], name: str, value: Any) -> None:
    from geosleuth.cues.registry import cue_parameters, list_cues

    if name not in list_cues():
        raise ConfigError(f"unknown cue {name!r} in config{did_you_mean(name, list_cues())}; "
                          f"available: {', '.join(list_cues()) or 'none'}")
    if isinstance(value, bool):
        value = {"enabled": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config of cue {name!r} must be a mapping or true/false, got {value!r}")
    section = cues.setdefault(name, {})
    params = cue_parameters(name)
    for key, item in value.items():
        if key in _CUE_KEYS:
            section[key] = _check_type(f"cues.{name}.{key}", _CUE_KEYS[key](), item)
        elif key in params:
            default = section.get(key, params[key])
            section[key] = item if default is None else _check_type(f"cues.{name}.{key}", default, item)
        else:
            raise ConfigError(f"unknown parameter {key!r} for cue {name!r}"
                              f"{did_you_mean(str(key), list(params) + list(_CUE_KEYS))}")


def _check_type(path: str, current: Any, value: Any) -> Any:
    if current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    elif isinstance(value, type(current)):
        return value
    raise ConfigError(f"config key {path!r} expects {type(current).__name__}, got {value!r}")


def validate(config: Config) -> None:
    """Range checks that the schema's types cannot express."""
    checks = [
        (config["prior"]["kind"] in ("photo_density", "uniform"), "prior.kind must be 'photo_density' or 'uniform'"),
        (config["prior"]["smoothing"] > 0, "prior.smoothing must be > 0"),
        (config["output"]["top_k"] >= 1, "output.top_k must be >= 1"),
        (0 < config["output"]["credible_mass"] < 1, "output.credible_mass must be in (0, 1)"),
        (config["image"]["max_pixels"] > 0, "image.max_pixels must be > 0"),
        (config["image"]["max_side"] >= 64, "image.max_side must be >= 64"),
        (config["batch"]["workers"] >= 1, "batch.workers must be >= 1"),
    ]
    for name, cue in config["cues"].items():
        checks.append((cue.get("weight", 1.0) >= 0, f"cues.{name}.weight must be >= 0"))
        checks.append((0 < cue.get("floor", 0.5) < 1, f"cues.{name}.floor must be in (0, 1)"))
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
