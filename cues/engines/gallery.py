"""Retrieval refinement (Search-within-Cell): a gallery of geotagged reference photos.

A gallery is backbone features (L2-normalised) with coordinates, built by `geosleuth gallery
build DIR LABELS.csv`. At inference the visual cue searches the gallery only within its most
probable cells, clusters the nearest neighbours' locations (DBSCAN, haversine) and reports the
best-supported cluster's centre as a precise point inside its cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geosleuth.artifact import read_artifact, write_artifact
from geosleuth.errors import GeosleuthError
from geosleuth.geo import EARTH_RADIUS_KM, haversine_km, spherical_mean

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

GALLERY_FORMAT = "geosleuth.gallery/1"


@dataclass(frozen=True)
class Match:
    """The best cluster of neighbours: its centre, spread and support."""

    lat: float
    lon: float
    spread_km: float  # median distance of its members from the centre
    members: int
    neighbours: int
    similarity: float  # best cosine similarity in the cluster
    names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Gallery:
    features: np.ndarray  # (n, dim) float16, unit length
    lat: np.ndarray
    lon: np.ndarray
    names: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)  # backbone, provenance
    _cells: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.lat)

    def cells(self, grid: "CellGrid") -> np.ndarray:
        key = grid.meta.get("sha256", str(id(grid)))
        if key not in self._cells:
            self._cells[key] = grid.lookup(self.lat, self.lon)
        return self._cells[key]

    def search(self, feature: np.ndarray, grid: "CellGrid", within: np.ndarray, k: int = 10,
               cluster_km: float = 25.0) -> Match | None:
        """Nearest `k` gallery photos among those in cells `within`, clustered; None if none."""
        candidates = np.flatnonzero(np.isin(self.cells(grid), within))
        if not len(candidates):
            return None
        q = np.asarray(feature, np.float32)
        q = q / (np.linalg.norm(q) + 1e-12)
        sims = self.features[candidates].astype(np.float32) @ q
        order = np.argsort(-sims)[:k]
        idx, sims = candidates[order], sims[order]
        return _best_cluster(self.lat[idx], self.lon[idx], sims, self.names[idx], cluster_km)

    def save(self, path: str | Path) -> None:
        write_artifact(path, GALLERY_FORMAT, self.meta, {"features": self.features.astype(np.float16),
                                                         "lat": self.lat, "lon": self.lon,
                                                         "names": self.names.astype(str)})

    @classmethod
    def load(cls, path: str | Path) -> "Gallery":
        meta, z = read_artifact(path, GALLERY_FORMAT, "gallery")
        try:
            return cls(z["features"], z["lat"], z["lon"], z["names"], meta)
        except KeyError as exc:
            raise GeosleuthError(f"gallery {path} lacks {exc}") from exc

    @classmethod
    def from_features(cls, features: np.ndarray, lat: np.ndarray, lon: np.ndarray, names: np.ndarray,
                      meta: dict[str, Any] | None = None) -> "Gallery":
        f = np.asarray(features, np.float32)
        f = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)
        return cls(f.astype(np.float16), np.asarray(lat, np.float64), np.asarray(lon, np.float64),
                   np.asarray(names, str), dict(meta or {}))


def _best_cluster(lat: np.ndarray, lon: np.ndarray, sims: np.ndarray, names: np.ndarray,
                  cluster_km: float) -> Match:
    from sklearn.cluster import DBSCAN

    labels = DBSCAN(eps=cluster_km / EARTH_RADIUS_KM, min_samples=1, metric="haversine").fit_predict(
        np.radians(np.column_stack([lat, lon])))
    weight = np.clip(sims, 0, None)
    best = max(set(labels.tolist()), key=lambda c: weight[labels == c].sum())
    members = labels == best
    c_lat, c_lon = spherical_mean(lat[members], lon[members])
    spread = float(np.median(haversine_km(c_lat, c_lon, lat[members], lon[members])))
    return Match(c_lat, c_lon, spread, int(members.sum()), len(lat), float(sims[members].max()),
                 tuple(names[members].tolist()))
