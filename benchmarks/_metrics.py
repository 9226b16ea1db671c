"""Accuracy metrics of the benchmark scripts (Im2GPS conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from geosleuth.fusion.decision import geoscore
from geosleuth.geo import haversine_km
from geosleuth.labels import Label

THRESHOLDS_KM = (1, 25, 200, 750, 2500)


def summarize(distances_km: np.ndarray, country_correct: np.ndarray | None = None) -> dict[str, Any]:
    """% within each threshold, median km, mean GeoScore and country accuracy."""
    d = np.asarray(distances_km, dtype=np.float64)
    out: dict[str, Any] = {"n": int(len(d))}
    for t in THRESHOLDS_KM:
        out[f"acc_{t}km"] = round(float(np.mean(d <= t) * 100), 2) if len(d) else None
    out["median_km"] = round(float(np.median(d)), 1) if len(d) else None
    out["geoscore"] = round(float(np.mean(geoscore(d))), 1) if len(d) else None
    if country_correct is not None and len(country_correct):
        out["country_acc"] = round(float(np.mean(country_correct) * 100), 2)
    return out


def distances(pred_lat: np.ndarray, pred_lon: np.ndarray, labels: list[Label]) -> np.ndarray:
    return haversine_km(pred_lat, pred_lon, [lb.lat for lb in labels], [lb.lon for lb in labels])
