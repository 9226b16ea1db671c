"""Labelled photos: Im2GPS-style label files, and the one rule that splits them into folds by author."""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from geosleuth.errors import ConfigError
from geosleuth.geo import valid_point


@dataclass(frozen=True)
class Label:
    image_id: str
    lat: float
    lon: float
    author: str = ""
    scene: tuple[float, float, float] | None = None  # p(indoor, natural, urban) when labelled


def read_labels(path: str | Path) -> list[Label]:
    """Rows of an Im2GPS3k-style CSV: IMG_ID,LAT,LON[,AUTHOR,S3_Label,Prob_indoor,...] (header
    required). The scene is taken from Prob_indoor/natural/urban, else from S3_Label (0/1/2)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"labels file not found: {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"IMG_ID", "LAT", "LON"} <= set(rows[0]):
        raise ConfigError(f"{path}: expected columns IMG_ID,LAT,LON")
    labels = []
    for line, r in enumerate(rows, start=2):
        try:
            lat, lon = float(r["LAT"]), float(r["LON"])
            if not valid_point(lat, lon):
                raise ValueError("coordinates out of range")
            labels.append(Label(r["IMG_ID"], lat, lon, r.get("AUTHOR") or "", _scene(r)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}, line {line}: {exc}") from exc
    return labels


def _scene(row: dict[str, str]) -> tuple[float, float, float] | None:
    probs = [row.get(f"Prob_{s}") for s in ("indoor", "natural", "urban")]
    if all(probs):
        p = np.clip([float(v) for v in probs], 0, None)
        return tuple(float(v) for v in p / p.sum()) if p.sum() > 0 else None
    if row.get("S3_Label") not in (None, ""):
        onehot = [0.0, 0.0, 0.0]
        onehot[int(row["S3_Label"])] = 1.0
        return tuple(onehot)
    return None


def author_folds(authors: Iterable[str], k: int = 5, salt: str = "") -> np.ndarray:
    """Fold of each photo by a stable hash of its author, so no photographer is in two folds
    (many photos of one author share coordinates: splitting by image would leak them)."""
    return np.array([zlib.crc32((salt + a).encode()) % k for a in authors], dtype=np.int64)
