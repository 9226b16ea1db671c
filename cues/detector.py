"""Object detection with Ultralytics YOLO (.pt / .onnx / .tflite weights), once per photo."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.errors import MissingDependencyError, WeightsNotFoundError

if TYPE_CHECKING:
    from geosleuth.photo import Photo

Box = tuple[float, float, float, float]
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


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
        self.key = f"yolo:{weights}:{imgsz}:{conf}"
        self._model = None
        self._lock = threading.Lock()

    def available(self) -> tuple[bool, str]:
        try:
            import ultralytics  # noqa: F401
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
        return False, (f"YOLO weights not found: {self.weights} (set cues.detect.weights to a local .pt/.onnx/"
                       ".tflite file, or allow_download: true when online)")

    def _load(self):
        if self._model is None:
            ok, note = self.available()
            if not ok:
                raise WeightsNotFoundError(note) if "not found" in note else MissingDependencyError(note)
            import logging

            from ultralytics import YOLO
            from ultralytics.utils import LOGGER

            LOGGER.setLevel(logging.WARNING)
            local = Path(self.weights).expanduser()
            self._model = YOLO(str(local) if local.is_file() else self.weights, task="detect")
        return self._model

    def detect(self, image: np.ndarray) -> list[Detection]:
        with self._lock:
            result = self._load().predict(image, imgsz=self.imgsz, conf=self.conf, verbose=False)[0]
        names = result.names
        return [Detection(names[int(c)], float(s), tuple(float(v) for v in xyxy))
                for c, s, xyxy in zip(result.boxes.cls.tolist(), result.boxes.conf.tolist(), result.boxes.xyxy.tolist())]


_DETECTORS: dict[tuple, YoloDetector] = {}
_LOCK = threading.Lock()


def get_detector(weights: str, imgsz: int = 640, conf: float = 0.25, allow_download: bool = False) -> YoloDetector:
    """A shared detector per settings, so a model loads once per process."""
    key = (weights, imgsz, conf, allow_download)
    with _LOCK:
        if key not in _DETECTORS:
            _DETECTORS[key] = YoloDetector(weights, imgsz, conf, allow_download)
        return _DETECTORS[key]


def detect_objects(photo: "Photo", detector: YoloDetector) -> tuple[Detection, ...]:
    """Detections on the photo's working copy, computed once per photo and model."""
    return photo.memo(f"detect:{detector.key}", lambda: tuple(detector.detect(photo.array())))


def train_detector(data: str | Path, model: str = "yolov8n.yaml", epochs: int = 50, imgsz: int = 640, batch: int = 16,
                   device: str | None = None, out: str | Path = "runs/geosleuth", name: str = "detector",
                   **options) -> Path:
    """Train a YOLO detector (plates, storefront signs...) on an Ultralytics dataset YAML.

    `model` is an architecture YAML (trained from scratch, nothing downloaded) or weights to
    fine-tune. On CPU this is for small data; with a GPU, pass device="0". Returns best.pt.
    """
    from geosleuth.errors import ConfigError

    data = Path(data).expanduser()
    if not data.is_file():
        raise ConfigError(f"dataset file not found: {data}")
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise MissingDependencyError("training needs Ultralytics: pip install -e '.[detect]'") from exc
    if device is None:
        import torch

        device = "0" if torch.cuda.is_available() else "cpu"
    trainer = YOLO(model, task="detect")
    trainer.train(data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, device=device, plots=False,
                  project=str(Path(out).resolve()), name=name, exist_ok=True, amp=device != "cpu",
                  workers=0 if device == "cpu" else 8, verbose=False, **options)
    best = Path(trainer.trainer.save_dir) / "weights" / "best.pt"
    if not best.is_file():
        raise WeightsNotFoundError(f"training finished without writing {best}")
    return best
