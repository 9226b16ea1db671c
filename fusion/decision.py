"""The answer as a decision: the point that maximises expected GeoScore under the posterior.

    GeoScore(d) = 5000 · exp(-d / 1492.7 km)         (GeoGuessr's score, the benchmark's utility)
    E[GeoScore(q)] = Σ_c p(c) · GeoScore(d(q, c))     (each cell at its mean photo location, or at
                                                       a point a cue placed in it)

The densest cell of a flat posterior is a poor answer: a London cell holding a fraction of a
percent scores worse on average than a point central to where the probability is. Candidates are
the cells' mean photo locations: one per cell of the middle partition (fixed, so their utilities
are one matrix product, precomputed per grid) plus the photo's most probable cells, and the cells
in which a cue placed a point (a GPS fix, an expert's claim): those are candidates at their
point, and their mass is scored from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

from geosleuth.geo import EARTH_RADIUS_KM, to_xyz

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

GEOSCORE_MAX = 5000.0
GEOSCORE_KM = 1492.7


def geoscore(distance_km: np.ndarray | float) -> np.ndarray:
    """GeoScore of an answer `distance_km` from the truth.

    >>> round(float(geoscore(1492.7)))
    1839
    """
    return GEOSCORE_MAX * np.exp(-np.asarray(distance_km, dtype=np.float64) / GEOSCORE_KM)


@dataclass(frozen=True)
class Decision:
    lat: float
    lon: float
    cell: int  # the cell whose mean location is the answer
    expected_geoscore: float


class GeoScoreDecider:
    """Expected-GeoScore answers over one grid; build once per grid (`for_grid`)."""

    def __init__(self, grid: "CellGrid", top: int = 16) -> None:
        self.lat, self.lon = np.asarray(grid.lat), np.asarray(grid.lon)
        self.xyz = to_xyz(grid.lat, grid.lon).astype(np.float32)
        self.top = top
        # Each middle cell is represented by its most photographed fine cell.
        middle = grid.hierarchy["middle"]
        order = np.lexsort((-grid.counts, middle))
        first = np.r_[True, middle[order][1:] != middle[order][:-1]]
        self.fixed = order[first]
        self.fixed_utility = self._utility(self.fixed)  # (fixed, cells)

    @classmethod
    def for_grid(cls, grid: "CellGrid") -> "GeoScoreDecider":
        return grid.memo("geoscore_decider", lambda: cls(grid))

    def _utility(self, candidates: np.ndarray, xyz: np.ndarray | None = None,
                 cells: np.ndarray | None = None) -> np.ndarray:
        """GeoScore of answering each candidate cell's point, for every cell's point (or those of
        `cells`): (k, cells), with the cells' points `xyz` (default: their means). Angles come
        from atan2(|a × b|, a · b), exact to metres in float32 (an arccos is not below ~3 km)."""
        xyz = self.xyz if xyz is None else xyz
        to = (xyz if cells is None else xyz[cells])[None]
        out = np.empty((len(candidates), to.shape[1]), np.float32)
        for i in range(0, len(candidates), 128):
            at = xyz[candidates[i:i + 128]][:, None]
            angle = np.arctan2(np.linalg.norm(np.cross(at, to), axis=-1), np.sum(at * to, axis=-1))
            out[i:i + 128] = GEOSCORE_MAX * np.exp(angle * np.float32(-EARTH_RADIUS_KM / GEOSCORE_KM))
        return out

    def decide(self, posterior: np.ndarray, at: Mapping[int, tuple[float, float]] | None = None) -> Decision:
        """The candidate with the highest expected GeoScore under `posterior` (over cells). `at`
        places some cells' mass at a point other than their mean (a point claimed inside the
        cell): there it is both a candidate answer and where that mass is scored from."""
        p = np.asarray(posterior, dtype=np.float32)
        p = p / p.sum()
        top = np.argpartition(-p, min(self.top, len(p) - 1))[: self.top]
        moved = np.fromiter(at or (), np.int64)
        top = np.union1d(top, moved)
        candidates = np.concatenate([self.fixed, top])
        expected = np.concatenate([self.fixed_utility @ p, self._utility(top) @ p])
        if len(moved):
            expected = self._expected(candidates, p, at, expected)
        # Within half a point of the best (float32 sums), a point a cue placed wins, else the most
        # probable cell.
        tied = np.flatnonzero(expected >= expected.max() - 0.5)
        placed = np.isin(candidates[tied], moved)
        j = int(tied[np.argmax(p[candidates[tied]] + placed)])
        best = int(candidates[j])
        lat, lon = (at or {}).get(best, (float(self.lat[best]), float(self.lon[best])))
        return Decision(lat, lon, best, float(expected[j]))

    def _expected(self, candidates: np.ndarray, p: np.ndarray, at: Mapping[int, tuple[float, float]],
                  unmoved: np.ndarray) -> np.ndarray:
        """Expected GeoScores of `candidates` with the cells of `at` moved to its points, from
        `unmoved` (their expected GeoScores with every cell at its mean): only the moved cells'
        columns and the moved candidates' rows change."""
        moved = np.fromiter(at, np.int64)
        xyz = self.xyz.copy()
        xyz[moved] = to_xyz(*np.array([at[int(c)] for c in moved]).T).astype(np.float32)
        expected = unmoved + (self._utility(candidates, xyz, moved) - self._utility(candidates, self.xyz, moved)) \
            @ p[moved]
        shifted = np.isin(candidates, moved)
        expected[shifted] = self._utility(candidates[shifted], xyz) @ p
        return expected

    def answers(self, log_posteriors: np.ndarray) -> np.ndarray:
        """The answer cell of each row of (n, cells) log posteriors."""
        return np.array([self.decide(np.exp(row)).cell for row in log_posteriors], dtype=np.int64)

    def expected(self, posterior: np.ndarray, cell: int, at: Mapping[int, tuple[float, float]] | None = None) -> float:
        """Expected GeoScore of answering `cell`'s point under `posterior` (cells moved as in `decide`)."""
        p = np.asarray(posterior, dtype=np.float32)
        p = p / p.sum()
        one = np.array([cell])
        unmoved = self._utility(one) @ p
        return float((self._expected(one, p, at, unmoved) if at else unmoved)[0])
