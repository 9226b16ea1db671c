"""geosleuth: where was this photo taken?

A global cell prior sharpened by cue experts (metadata, text, detections, scene), fused in a
Bayesian way, with an explainable report of what each cue saw and how far it moved the answer.

>>> import geosleuth
>>> pred = geosleuth.locate(geosleuth.example_image())   # doctest: +SKIP
>>> pred.top_k[0].country                                 # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it; imported on first use so `import geosleuth` stays light.
_EXPORTS = {
    "Geolocator": "geosleuth.api",
    "BatchItem": "geosleuth.api",
    "locate": "geosleuth.api",
    "example_image": "geosleuth.api",
    "Hint": "geosleuth.hints",
    "locate_album": "geosleuth.album",
    "AlbumResult": "geosleuth.album",
    "Prediction": "geosleuth.results",
    "Answer": "geosleuth.results",
    "Candidate": "geosleuth.results",
    "CueReport": "geosleuth.results",
    "Region": "geosleuth.results",
    "Confidence": "geosleuth.fusion.confidence",
    "Photo": "geosleuth.photo",
    "load_config": "geosleuth.config",
    "Cue": "geosleuth.cues.base",
    "CueOutput": "geosleuth.cues.base",
    "Evidence": "geosleuth.cues.base",
    "GeoPoint": "geosleuth.cues.base",
    "create_cue": "geosleuth.cues.registry",
    "list_cues": "geosleuth.cues.registry",
    "register_cue": "geosleuth.cues.registry",
    "CellGrid": "geosleuth.fusion.grid",
    "GeosleuthError": "geosleuth.errors",
    "ConfigError": "geosleuth.errors",
    "ImageError": "geosleuth.errors",
    "UsageError": "geosleuth.errors",
    "MissingDependencyError": "geosleuth.errors",
    "WeightsNotFoundError": "geosleuth.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'geosleuth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
