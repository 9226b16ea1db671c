"""Time zones of grid cells (timezonefinder, offline) and which had a given UTC offset when."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cache import cached_arrays
from geosleuth.errors import MissingDependencyError

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

COARSE_LEVEL = 8  # cells coarser than this are sampled at several points, finer ones at their mean


@lru_cache(maxsize=1)
def _finder():
    try:
        from timezonefinder import TimezoneFinder
    except ImportError as exc:
        raise MissingDependencyError("time-zone lookup needs the 'timezonefinder' package") from exc
    return TimezoneFinder(in_memory=False)  # its polygons read through mmap: less memory, as fast as in memory


def zone_at(lat: float, lon: float) -> str | None:
    """IANA time zone name at a point (ocean points get Etc/GMT±N)."""
    return _finder().timezone_at(lng=float(lon), lat=float(lat))


def cell_zones(grid: "CellGrid") -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(zone names, cell index, zone index, weight): the share of each cell in each zone. Cached on
    disk per grid and time-zone data: computing it reads most of the zone polygons."""
    return grid.memo("timezones", lambda: _cached_cell_zones(grid))


def _cached_cell_zones(grid: "CellGrid") -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in (grid.ids, grid.lat, grid.lon)))
    arrays = cached_arrays(f"cell-zones-{digest.hexdigest()[:16]}-tz-{version('timezonefinder-data')}.npz",
                           lambda: dict(zip(("zones", "cells", "zone_index", "weights"), _cell_zones(grid))))
    return tuple(np.asarray(arrays["zones"]).tolist()), arrays["cells"], arrays["zone_index"], arrays["weights"]


def _cell_zones(grid: "CellGrid") -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    import s2sphere

    finder = _finder()
    pairs: dict[tuple[int, str], float] = {}
    for c in range(len(grid)):
        points = [(grid.lat[c], grid.lon[c])]
        if grid.levels[c] < COARSE_LEVEL:  # large cells: add the centre and the corners
            cell = s2sphere.Cell(s2sphere.CellId(int(grid.ids[c])))
            for p in [cell.get_center()] + [cell.get_vertex(k) for k in range(4)]:
                ll = s2sphere.LatLng.from_point(p)
                points.append((ll.lat().degrees, ll.lng().degrees))
        for lat, lon in points:
            zone = finder.timezone_at(lng=float(lon), lat=float(lat)) or "Etc/UTC"
            pairs[(c, zone)] = pairs.get((c, zone), 0.0) + 1.0 / len(points)
    zones = tuple(sorted({z for _, z in pairs}))
    index = {z: k for k, z in enumerate(zones)}
    cells = np.array([c for c, _ in pairs], dtype=np.int64)
    zone_idx = np.array([index[z] for _, z in pairs], dtype=np.int64)
    return zones, cells, zone_idx, np.array(list(pairs.values()))


@lru_cache(maxsize=256)
def _zone_offsets(zones: tuple[str, ...], local: dt.datetime) -> np.ndarray:
    """UTC offset in minutes of each zone at a local wall-clock time."""
    from zoneinfo import ZoneInfo

    out = np.full(len(zones), np.nan)
    for k, name in enumerate(zones):
        try:
            out[k] = local.replace(tzinfo=ZoneInfo(name)).utcoffset().total_seconds() / 60
        except Exception:  # unknown zone in this tzdata
            pass
    return out


def cell_utc_offsets(grid: "CellGrid", local: dt.datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell index, UTC offset in minutes, share of the cell): each cell's time zones and their
    offsets at the local wall-clock time `local` (NaN for a zone this tzdata does not know)."""
    zones, cells, zone_idx, weight = cell_zones(grid)
    return cells, _zone_offsets(zones, local.replace(tzinfo=None))[zone_idx], weight


def offset_match(grid: "CellGrid", offset: dt.timedelta, local: dt.datetime | None) -> tuple[np.ndarray, list[str]]:
    """Share of each cell whose zone had `offset` at local time `local` (any season when None),
    and the matching zone names, most photographed first."""
    zones, cells, zone_idx, weight = cell_zones(grid)
    minutes = offset.total_seconds() / 60
    if local is None:
        times = [dt.datetime(2024, 1, 15, 12), dt.datetime(2024, 7, 15, 12)]
    else:
        times = [local.replace(minute=0, second=0, microsecond=0)]
    matches = np.zeros(len(zones), dtype=bool)
    for t in times:
        matches |= _zone_offsets(zones, t) == minutes
    share = np.bincount(cells, weights=weight * matches[zone_idx], minlength=len(grid))
    photos = np.bincount(zone_idx, weights=weight * grid.counts[cells], minlength=len(zones))
    names = [zones[k] for k in np.argsort(-photos) if matches[k]]
    return share, names
