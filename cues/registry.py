"""Registry and factory of cues: `create_cue(name, **params)`, `list_cues()`."""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any, Callable

from geosleuth.errors import ConfigError, did_you_mean

# Built-in cues, as "module:Class" so listing them imports nothing heavy.
_BUILTIN: dict[str, str] = {
    "exif": "geosleuth.cues.exif:ExifCue",
    "text": "geosleuth.cues.text:TextCue",
    "detect": "geosleuth.cues.detect:DetectCue",
    "visual": "geosleuth.cues.visual:VisualCue",
    "scene": "geosleuth.cues.visual:SceneCue",
}
_REGISTERED: dict[str, type] = {}


def register_cue(name: str) -> Callable[[type], type]:
    """Class decorator adding a cue to the registry under `name`.

    >>> @register_cue("always_abstains")
    ... class Quiet(BaseCue):
    ...     def observe(self, photo, grid):
    ...         return CueOutput.abstain("nothing to say")
    """

    def decorate(cls: type) -> type:
        cls.name = name
        _REGISTERED[name] = cls
        return cls

    return decorate


def unregister_cue(name: str) -> None:
    _REGISTERED.pop(name, None)


def list_cues() -> list[str]:
    """Names of every known cue."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def cue_class(name: str) -> type:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        cls = getattr(import_module(module), attr)
        cls.name = name
        _REGISTERED[name] = cls
        return cls
    raise ConfigError(f"unknown cue {name!r}{did_you_mean(name, list_cues())}; available: "
                      f"{', '.join(list_cues()) or 'none'}")


def cue_parameters(name: str) -> dict[str, Any]:
    """Constructor parameters of a cue and their defaults (None when required)."""
    sig = inspect.signature(cue_class(name).__init__)
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in list(sig.parameters.values())[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def create_cue(name: str, **params: Any) -> Any:
    """Instantiate a cue by name; unknown names or parameters fail with 'did you mean'."""
    allowed = cue_parameters(name)
    for key in params:
        if key not in allowed:
            raise ConfigError(f"unknown parameter {key!r} for cue {name!r}{did_you_mean(key, list(allowed))}")
    return cue_class(name)(**params)
