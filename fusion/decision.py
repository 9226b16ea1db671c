"""The answer as a decision: the point that maximises expected GeoScore under the posterior.

    GeoScore(d) = 5000 · exp(-d / 1492.7 km)         (GeoGuessr's score, the benchmark's utility)
    E[GeoScore(q)] = Σ_c p(c) · GeoScore(d(q, c))     (each cell at its mean photo location)

The densest cell of a flat posterior is a poor answer: a 0.2 % London cell scores worse on
average than a point central to where the probability is. Candidates are the cells' mean photo
locations: one per cell of the middle partition (fixed, so their utilities are one precomputed
matrix product, ~19 MB per grid) plus the photo's most probable cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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

    def _utility(self, candidates: np.ndarray) -> np.ndarray:
        """GeoScore of answering each candidate cell's point, for every cell's point: (k, cells)."""
        cos = np.clip(self.xyz[candidates] @ self.xyz.T, -1.0, 1.0)
        return GEOSCORE_MAX * np.exp(np.arccos(cos) * np.float32(-EARTH_RADIUS_KM / GEOSCORE_KM))

    def decide(self, posterior: np.ndarray) -> Decision:
        """The candidate with the highest expected GeoScore under `posterior` (over cells)."""
        p = np.asarray(posterior, dtype=np.float32)
        p = p / p.sum()
        top = np.argpartition(-p, min(self.top, len(p) - 1))[: self.top]
        candidates = np.concatenate([self.fixed, top])
        expected = np.concatenate([self.fixed_utility @ p, self._utility(top) @ p])
        # Within half a point of the best (float32 cannot tell cells ~1 km apart), the most probable wins.
        tied = np.flatnonzero(expected >= expected.max() - 0.5)
        j = int(tied[np.argmax(p[candidates[tied]])])
        best = int(candidates[j])
        return Decision(float(self.lat[best]), float(self.lon[best]), best, float(expected[j]))

    def answers(self, log_posteriors: np.ndarray) -> np.ndarray:
        """The answer cell of each row of (n, cells) log posteriors."""
        return np.array([self.decide(np.exp(row)).cell for row in log_posteriors], dtype=np.int64)

    def expected(self, posterior: np.ndarray, cell: int) -> float:
        """Expected GeoScore of answering `cell`'s point under `posterior`."""
        p = np.asarray(posterior, dtype=np.float32)
        return float(self._utility(np.array([cell]))[0] @ (p / p.sum()))
