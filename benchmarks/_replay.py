"""Engines that replay what a real one recorded for the photo at hand (benchmarks re-run analysis
settings without re-running OCR or YOLO); anything not recorded goes to the real engine."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from geosleuth.cues.engines.detector import Detection, YoloDetector
from geosleuth.cues.engines.ocr import OcrBackend, TextRead


class ReplayReader(OcrBackend):
    """Returns `reads` for an image of `shape` (the photo's first pass); reads crops with `real`."""

    def __init__(self, real: OcrBackend | None = None) -> None:
        self.real = real
        self.reads: Sequence[TextRead] = ()
        self.shape: tuple[int, ...] | None = None

    def replay(self, reads: Sequence[TextRead], shape: tuple[int, ...] | None = None) -> None:
        self.reads, self.shape = tuple(reads), shape

    def available(self) -> tuple[bool, str]:
        return True, "replayed reads"

    def cannot_read(self) -> str:
        return ""

    def read(self, image: np.ndarray, min_confidence: float | None = None) -> list[TextRead]:
        if self.real is None or self.shape is None or image.shape == self.shape:
            return list(self.reads)
        return self.real.read(image, min_confidence)


class ReplayDetector(YoloDetector):
    """Returns the recorded detections when there are some for the photo at hand, else detects."""

    def __init__(self, real: YoloDetector) -> None:
        super().__init__(real.weights, real.imgsz, real.conf, real.allow_download)
        self.recorded: Sequence[Detection] | None = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        return list(self.recorded) if self.recorded is not None else super().detect(image)
