"""Registry and factory of cues: `create_cue(name, **params)`, `list_cues()`.

A cue's settings come from its config section (the YAML is their one source of truth); the
engines it names in its constructor (`ocr`, `detector`, `features`) are handed in.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any, Callable

from geosleuth.config import CUE_KEYS, cue_section, default_config, register_cue_schema, unregister_cue_schema
from geosleuth.cues.base import Cue
from geosleuth.cues.engines import Engines
from geosleuth.errors import ConfigError, did_you_mean

# Built-in cues, as "module:Class" so listing them imports nothing heavy.
_BUILTIN: dict[str, str] = {
    "exif": "geosleuth.cues.exif:ExifCue",
    "text": "geosleuth.cues.text:TextCue",
    "detect": "geosleuth.cues.detect:DetectCue",
    "visual": "geosleuth.cues.visual:VisualCue",
    "scene": "geosleuth.cues.scene:SceneCue",
    "vlm": "geosleuth.cues.vlm:VlmCue",
}
_REGISTERED: dict[str, type] = {}


def register_cue(name: str) -> Callable[[type], type]:
    """Class decorator adding a cue to the registry under `name`; its constructor's defaults
    become its config section (with enabled, weight 1 and floor 1e-3).

    >>> from geosleuth.cues import BaseCue, CueOutput
    >>> @register_cue("always_abstains")
    ... class Quiet(BaseCue):
    ...     def observe(self, photo, grid):
    ...         return CueOutput.abstain("nothing to say")
    >>> "always_abstains" in list_cues()
    True
    >>> unregister_cue("always_abstains")
    """

    def decorate(cls: type) -> type:
        cls.name = name
        _REGISTERED[name] = cls
        params = {k: v for k, v in _parameters(cls).items() if k not in CUE_KEYS and k not in Engines.names()}
        register_cue_schema(name, params)
        return cls

    return decorate


def unregister_cue(name: str) -> None:
    _REGISTERED.pop(name, None)
    unregister_cue_schema(name)


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


def _parameters(cls: type) -> dict[str, Any]:
    """Keyword parameters of a constructor and their defaults (None when required)."""
    sig = inspect.signature(cls.__init__)
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in list(sig.parameters.values())[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def create_cue(name: str, engines: Engines | None = None, **params: Any) -> Cue:
    """A cue by name, with its config section's settings (the defaults) overridden by `params`,
    and the shared engines it takes (`engines`, else ones built from the default config).
    Unknown names or parameters fail with 'did you mean'.

    >>> create_cue("exif", floor=1e-3).floor
    0.001
    """
    cls = cue_class(name)
    settings = {k: v for k, v in cue_section(name).items() if k != "enabled"}
    takes = _parameters(cls)
    wanted = [e for e in Engines.names() if e in takes]
    for key in params:
        if key not in settings and key not in wanted:
            raise ConfigError(f"unknown parameter {key!r} for cue {name!r}"
                              f"{did_you_mean(key, list(settings) + wanted)}")
    settings.update(params)
    missing = [e for e in wanted if e not in settings]
    if missing:
        engines = engines or Engines.from_config(default_config())
        settings.update({e: getattr(engines, e) for e in missing})
    fusion = {k: settings.pop(k) for k in ("weight", "floor") if k not in takes}
    cue = cls(**settings)
    for key, value in fusion.items():  # a cue class that does not take them still carries them
        setattr(cue, key, value)
    return cue
