"""Object detection with Ultralytics YOLO (.pt / .onnx / .tflite weights), once per photo and model."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cache import shared
from geosleuth.errors import MissingDependencyError, WeightsNotFoundError
from geosleuth.libraries import contain, native_stderr_silenced

if TYPE_CHECKING:
    from geosleuth.photo import Photo

Box = tuple[float, float, float, float]
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})
TRACKERS = ("clearml", "comet", "dvc", "mlflow", "raytune", "wandb")  # Ultralytics' settings keys


@dataclass(frozen=True)
class Detection:
    label: str
    confidence: float
    box: Box  # x0, y0, x1, y1 in working-image pixels


class YoloDetector:
    """A YOLO model from a weights path. Offline, the path must exist; with `allow_download`,
    official names such as "yolov8n.pt" are fetched by Ultralytics itself on first use."""

    def __init__(self, weights: str = "yolov8n.pt", imgsz: int = 640, conf: float = 0.25,
                 allow_download: bool = False) -> None:
        self.weights = weights
        self.imgsz = imgsz
        self.conf = conf
        self.allow_download = allow_download

    def available(self) -> tuple[bool, str]:
        try:
            import_ultralytics(online=self.allow_download)
        except ImportError:
            return False, "Ultralytics is not installed (pip install -e '.[detect]')"
        if Path(self.weights).expanduser().is_file():
            if self.weights.endswith(".tflite"):
                try:
                    import ai_edge_litert  # noqa: F401
                except ImportError:
                    return False, "TFLite weights need the 'ai-edge-litert' package"
            return True, f"YOLO weights {self.weights}"
        if self.allow_download:
            return True, f"YOLO weights {self.weights} (downloaded by Ultralytics on first use)"
        return False, (f"YOLO weights not found: {self.weights} (set detector.weights to a local .pt/.onnx/"
                       ".tflite file, or allow_download: true when online)")

    def _load(self):
        """The YOLO model and its lock, loaded once per process and weights file."""
        ok, note = self.available()
        if not ok:
            raise WeightsNotFoundError(note) if "not found" in note else MissingDependencyError(note)
        local = Path(self.weights).expanduser()
        source = str(local) if local.is_file() else self.weights
        return shared(("yolo", source), lambda: (_new_yolo(source, self.imgsz), threading.Lock()))

    def detect(self, image: np.ndarray) -> list[Detection]:
        model, lock = self._load()
        with lock:
            result = model.predict(image, imgsz=self.imgsz, conf=self.conf, verbose=False)[0]
        names = result.names
        return [Detection(names[int(c)], float(s), tuple(float(v) for v in xyxy))
                for c, s, xyxy in zip(result.boxes.cls.tolist(), result.boxes.conf.tolist(), result.boxes.xyxy.tolist())]


def import_ultralytics(online: bool = False):
    """Ultralytics, imported the way geosleuth keeps libraries (`contain`: settings under its cache
    folder, no banner), without its network check (it looks two host names up in DNS when
    imported, unless YOLO_OFFLINE is set) unless downloads are allowed, and in this process
    without its usage analytics or the experiment trackers it feeds when their packages are
    installed (its settings file is left as it is)."""
    contain()
    if not online:
        os.environ.setdefault("YOLO_OFFLINE", "1")
    import ultralytics
    from ultralytics.utils import SETTINGS

    dict.update(SETTINGS, {key: False for key in ("sync", *TRACKERS) if key in SETTINGS})
    try:
        from ultralytics.utils.events import events

        events.enabled = False  # built at import, from the settings as they were
    except ImportError:  # an older Ultralytics, whose events read SETTINGS["sync"] when sent
        pass
    return ultralytics


def _new_yolo(source: str, imgsz: int):
    """The model, run once on a blank image: TFLite's runtime logs its CPU delegate to stderr when
    the first run builds its interpreter."""
    import logging

    import_ultralytics(online=not Path(source).is_file())
    from ultralytics import YOLO
    from ultralytics.utils import LOGGER

    LOGGER.setLevel(logging.WARNING)
    model = YOLO(source, task="detect")
    with native_stderr_silenced():
        model.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz, verbose=False)
    return model


def detect_objects(photo: "Photo", detector: YoloDetector) -> tuple[Detection, ...]:
    """Detections on the photo's working copy, computed once per photo and model."""
    return photo.memo((detector, "objects"), lambda: tuple(detector.detect(photo.array())))
