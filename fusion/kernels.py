"""Turn a location with an uncertainty into a likelihood over cells."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.geo import EARTH_RADIUS_KM, haversine_km

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

KM_PER_DEGREE = EARTH_RADIUS_KM * np.pi / 180


@lru_cache(maxsize=4)
def _offsets(n: int) -> np.ndarray:
    """Fixed standard-normal 2-D offsets: deterministic Monte Carlo, the same for every call."""
    return np.random.default_rng(20240615).standard_normal((n, 2))


def kernel_log_likelihood(grid: "CellGrid", lat: float, lon: float, sigma_km: float, n: int = 256) -> np.ndarray:
    """log P(cell | a Gaussian of `sigma_km` around the point): the kernel's mass in each cell.

    Exact in the limit of many samples, for any sigma and cell shape; cells the kernel misses get
    -inf (fusion's floor bounds them). The point's own cell always gets mass.
    """
    d = _offsets(n) * sigma_km / KM_PER_DEGREE
    lats = np.clip(lat + d[:, 0], -90, 90)
    lons = (lon + d[:, 1] / max(np.cos(np.radians(lat)), 1e-3) + 180) % 360 - 180
    cells = grid.lookup(np.r_[lat, lats], np.r_[lon, lons])
    mass = np.bincount(cells, minlength=len(grid)).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.log(mass / mass.sum())


def point_log_likelihood(grid: "CellGrid", lat: float, lon: float, sigma_km: float) -> np.ndarray:
    """log p(someone names this point | the photo was taken in each cell), up to a constant: a
    heavy-tailed error of scale `sigma_km` around the truth (a 2-D Student t with one degree of
    freedom: most answers land close, a few a continent away), the cell's own spread of photo
    locations added (a disc of its area), evaluated at the cell's mean location. Unlike
    `kernel_log_likelihood` a small cell near the point is not penalised for its size: this is
    for a claim (an expert's guess), not for a measured position."""
    spread = sigma_km ** 2 + grid.area_km2 / (4 * np.pi)
    d = haversine_km(lat, lon, grid.lat, grid.lon)
    return 0.5 * np.log(spread) - 1.5 * np.log(spread + d ** 2)
