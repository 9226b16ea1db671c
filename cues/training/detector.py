"""Training a YOLO detector (plates, storefront signs) on an Ultralytics dataset."""

from __future__ import annotations

from pathlib import Path

from geosleuth.errors import ConfigError, MissingDependencyError, WeightsNotFoundError


def train_detector(data: str | Path, model: str = "yolov8n.yaml", epochs: int = 50, imgsz: int = 640, batch: int = 16,
                   device: str | None = None, out: str | Path = "runs/geosleuth", name: str = "detector",
                   **options) -> Path:
    """Train a YOLO detector (plates, storefront signs...) on an Ultralytics dataset YAML.

    `model` is an architecture YAML (trained from scratch, nothing downloaded) or weights to
    fine-tune. On CPU this is for small data; with a GPU, pass device="0". Returns best.pt.
    """
    data = Path(data).expanduser()
    if not data.is_file():
        raise ConfigError(f"dataset file not found: {data}")
    try:
        from geosleuth.cues.engines.detector import import_ultralytics

        import_ultralytics(online=not Path(model).expanduser().is_file() and model.endswith(".pt"))
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
