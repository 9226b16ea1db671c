"""Training code: the visual cell and scene heads (`classifier`), and YOLO detectors for plates and
signs (`detector`). The heavy modules load only when training runs; `TrainSettings` is light so
the command line can offer its options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainSettings:
    bottleneck: int = 128
    epochs: int = 40
    lr: float = 2e-3
    weight_decay: float = 1e-3
    tau_km: float = 150.0
    batch_size: int = 128
    seed: int = 0
    prior_smoothing: float = 1.0
    holdout: float = 0.2  # share of authors held out to calibrate the heads' temperature (0: none)
