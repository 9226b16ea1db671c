"""Turn a location with an uncertainty into a likelihood over cells."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.geo import EARTH_RADIUS_KM, destination

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


def t_kernel_log_mass(grid: "CellGrid", lat: float, lon: float, scale_km: float, n: int = 1024) -> np.ndarray:
    """log P(cell | a 2-D Student t error with one degree of freedom and scale `scale_km` around
    the point): heavy-tailed, most answers close and a few a continent away. The kernel's mass in
    each cell, from `n` fixed quantiles of its radius (distance r holds 1 - s/sqrt(s² + r²) of it)
    along a golden-angle spiral of bearings: deterministic, the same for every call."""
    u = (np.arange(n) + 0.5) / n
    r = np.minimum(scale_km * np.sqrt(1.0 / (1.0 - u) ** 2 - 1.0), np.pi * EARTH_RADIUS_KM)
    lats, lons = destination(lat, lon, r, np.arange(n) * np.pi * (3.0 - np.sqrt(5.0)))
    cells = grid.lookup(np.r_[lat, lats], np.r_[lon, lons])
    mass = np.bincount(cells, minlength=len(grid)).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.log(mass / mass.sum())
