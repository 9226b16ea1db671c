"""Clues: what text and detect share. A clue is one geographic hint (a script, a language, a
place name, a phone number, a plate...) as a likelihood over countries or a mixture of place
kernels, mixed with a uniform floor by its own reliability, so one misread word cannot zero out
the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from geosleuth.cues.base import Evidence
from geosleuth.fusion.kernels import kernel_log_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.gazetteer.places import Place

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Clue:
    """One hint in the text: a likelihood over countries or a mixture of place kernels."""

    kind: str
    summary: str
    reliability: float  # weight of this clue against a uniform floor, 0..1
    countries: dict[str, float] = field(default_factory=dict)  # country -> relative likelihood
    places: tuple[tuple["Place", float], ...] = ()  # (place, mixture weight)
    box: Box | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> Evidence:
        return Evidence(self.kind, self.summary, round(self.reliability, 3), self.box, self.details)


def clue_log_likelihood(clues: Sequence[Clue], grid: "CellGrid", residual_scale: float = 1.0) -> np.ndarray:
    """sum over clues of log[(1 - r) + r * f(cell)], f the clue's likelihood scaled to peak at 1;
    `residual_scale` multiplies every (1 - r)."""
    index = {c: k for k, c in enumerate(grid.countries)}
    total = np.zeros(len(grid))
    for clue in clues:
        f = np.zeros(len(grid))
        if clue.countries:
            vec = np.zeros(len(grid.countries))
            for cc, w in clue.countries.items():
                if cc in index:
                    vec[index[cc]] = w
            f += grid.cells_from_countries(vec)
        for place, w in clue.places:
            if place.kind == "country":
                vec = np.zeros(len(grid.countries))
                if place.country in index:
                    vec[index[place.country]] = 1.0
                f += w * grid.cells_from_countries(vec)
            elif place.kind == "admin1" and (cells := _admin1_cells(grid, place)).any():
                f += w * cells
            else:
                f += w * np.exp(kernel_log_likelihood(grid, place.lat, place.lon, place.radius_km, n=128))
        if f.max() <= 0:
            continue
        residual = (1 - clue.reliability) * residual_scale
        total += np.log(residual + (1 - residual) * f / f.max())
    return total


def _admin1_cells(grid: "CellGrid", place: "Place") -> np.ndarray:
    """Cells whose nearest named place lies in this admin-1 region (1/0)."""
    suffix = f", {place.name}, {place.country}"
    return np.fromiter((label.endswith(suffix) for label in grid.places), dtype=np.float64, count=len(grid))


# ---- clue extraction -----------------------------------------------------------------------
