"""Land outlines for static maps, offline, from data an installed dependency already carries.

`timezonefinder-data` ships the time-zone polygons of timezone-boundary-builder (derived from
OpenStreetMap, ODbL). The land zones together are the land (plus territorial waters, ~20 km
off the coast), and their edges are mostly national borders, so they make a base map with no
tile server, CDN or download. Reading them is slow, so the outlines are thinned once (points
closer than `SNAP_DEG` merged) and cached in `geosleuth.cache.cache_dir()`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from geosleuth.cache import cached_arrays

SNAP_DEG = 0.01  # about 1 km: finer than a pixel of any map the report draws
FORMAT = 2
ATTRIBUTION = ("Land outlines: timezone-boundary-builder time-zone polygons (OpenStreetMap contributors, ODbL) "
               "as shipped by the timezonefinder-data package; Antarctica is not drawn (its zones are the "
               "claims' sectors, not its coast)")


@lru_cache(maxsize=1)
def land_outlines() -> tuple[np.ndarray, np.ndarray]:
    """(points, starts): (N, 2) float32 lon/lat of every land ring, and each ring's start offset."""
    from importlib.metadata import version

    arrays = cached_arrays(f"land-outlines-v{FORMAT}-tz-{version('timezonefinder-data')}.npz",
                           lambda: dict(zip(("points", "starts"), _build())))
    return arrays["points"], arrays["starts"]


def _build() -> tuple[np.ndarray, np.ndarray]:
    from timezonefinder import TimezoneFinder

    tf = TimezoneFinder(in_memory=True)
    rings = []
    for i in range(tf.nr_of_polygons):
        if tf.zone_name_from_boundary_id(i).startswith(("Etc/", "Antarctica/")):  # open ocean; the claims' sectors
            continue
        xs, ys = tf.get_polygon(i)[0]  # exterior ring; holes are other zones
        ring = _thin(np.column_stack([xs, ys]))
        if len(ring) >= 3:
            rings.append(ring)
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]]).astype(np.int64)
    return np.concatenate(rings).astype(np.float32), starts


def _thin(ring: np.ndarray) -> np.ndarray:
    """Drop points that snap to the same `SNAP_DEG` grid point as the one before."""
    q = np.round(ring / SNAP_DEG).astype(np.int64)
    keep = np.r_[True, np.any(q[1:] != q[:-1], axis=1)]
    return ring[keep]


def rings() -> list[np.ndarray]:
    """Every land ring as an (n, 2) lon/lat array."""
    points, starts = land_outlines()
    return np.split(points, starts[1:])
