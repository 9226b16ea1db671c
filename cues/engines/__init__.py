"""Engines: the models cues share (OCR readers, the object detector, the image models), each
configured once in its own top-level config section, built once per pipeline and handed to the
cues that use it. Building is cheap: models load on first use, once per process.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from geosleuth.cues.engines.backbone import ImageFeatures
from geosleuth.cues.engines.detector import YoloDetector
from geosleuth.cues.engines.geoclip import GeoClip
from geosleuth.cues.engines.ocr import OcrEngine
from geosleuth.cues.engines.zero_shot import ZeroShotClip
from geosleuth.libraries import contain


@dataclass(frozen=True, eq=False)
class Engines:
    """One of each shared model; a cue asks for one by naming a constructor parameter after it."""

    ocr: OcrEngine
    detector: YoloDetector
    features: ImageFeatures
    geoclip: GeoClip
    zero_shot: ZeroShotClip

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Engines":
        """The engines of a (validated) config's sections of the same names."""
        contain()  # before any engine imports its library
        return cls(ocr=OcrEngine.from_settings(**config["ocr"]), detector=YoloDetector(**config["detector"]),
                   features=ImageFeatures(**config["features"]), geoclip=GeoClip(**config["geoclip"]),
                   zero_shot=ZeroShotClip(**config["zero_shot"]))

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(Engines))
