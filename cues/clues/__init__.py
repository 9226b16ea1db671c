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
OTHER_SIDE = 0.1  # a named place's likelihood in a cell's pairs of other countries


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
    within_country: bool = False  # says only where within each country, not which country (below)
    home_share: float | None = None  # the places are a thing's home, seen there this often (`_at_home`)

    def evidence(self) -> Evidence:
        return Evidence(self.kind, self.summary, round(self.reliability, 3), self.box, self.details)


def clue_log_likelihood(clues: Sequence[Clue], grid: "CellGrid",
                        residual_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The clues' joint likelihood over the (cell, country) pairs of the grid's share table,
    prod over clues of [(1 - r) + r * f(c, k)], f the clue's likelihood scaled to peak at 1 (or,
    for a clue of where within countries, to mean 1 in each),
    as (log L(cell), log L(country | cell)) (`CellGrid.marginalise`): a border cell holding
    photos of two countries counts the clues of each country together, and the report can say
    which of them the text names. `residual_scale` multiplies every (1 - r)."""
    index = {c: k for k, c in enumerate(grid.countries)}
    cells, in_country = grid.share_cell, grid.share_country
    total = np.zeros(len(cells))
    for clue in clues:
        f = np.zeros(len(cells))
        if clue.countries:
            vec = np.zeros(len(grid.countries))
            for cc, w in clue.countries.items():
                if cc in index:
                    vec[index[cc]] = w
            f += vec[in_country]
        for place, w in clue.places:
            own = in_country == index.get(place.country, -1)
            if place.kind == "country":
                f += w * own
                continue
            near = _admin1_cells(grid, place) if place.kind == "admin1" else None
            if near is None or not near.any():
                near = np.exp(kernel_log_likelihood(grid, place.lat, place.lon, place.radius_km, n=128))
            if clue.home_share is not None:
                f += w * _at_home(grid, near[cells] * own, own, clue.home_share)
                continue
            # The place's own country, though a cell whose photos all lie across the border keeps a tenth.
            f += w * near[cells] * np.where(own, 1.0, OTHER_SIDE)
        if clue.within_country:
            f = _within_country(grid, f)
        if f.max() <= 0:
            continue
        residual = (1 - clue.reliability) * residual_scale
        # Where within countries has mean 1 in each: misread, it says nothing (1), not "the peak".
        scale = 1.0 if clue.within_country else f.max()
        total += np.log(residual + (1 - residual) * f / scale)
    return grid.marginalise(total)


def distinct(clues: Sequence[Clue]) -> list[Clue]:
    """Each observation once, the first of those alike (a word read twice, a repeated sign, a
    plate read twice, a state named by its name and its slogan)."""
    unique: dict[tuple[str, str], Clue] = {}
    for clue in clues:
        unique.setdefault((clue.kind, clue.summary), clue)
    return list(unique.values())


def _within_country(grid: "CellGrid", f: np.ndarray) -> np.ndarray:
    """`f` rescaled so that under the photo-density prior its mean is the same (1) in every
    country: a clue then moves mass within countries and none between them. Countries it says
    nothing of get 1 everywhere."""
    weight, mass = grid.memo("pair prior", lambda: _pair_prior(grid))
    k = grid.share_country
    mean = np.bincount(k, weights=weight * f, minlength=len(grid.countries)) / np.maximum(mass, 1e-300)
    return np.where(mean[k] > 0, f / np.where(mean[k] > 0, mean[k], 1.0), 1.0)


def _at_home(grid: "CellGrid", near: np.ndarray, own: np.ndarray, share: float) -> np.ndarray:
    """Where in its country a thing from `near` (a plate of Texas, of Salvador) is seen, over the
    (cell, country) pairs: at home with chance `share`, else anywhere in the country as often as
    its photos are there, so a small home weighs as much as a large one. Its mean under the
    prior is 1 in the country, as it is (everywhere) in the others: it says nothing of which country."""
    weight, _ = grid.memo("pair prior", lambda: _pair_prior(grid))
    inside = float((weight * near).sum()) / max(float((weight * own).sum()), 1e-300)
    inside = min(max(inside, 1e-6), 1 - 1e-6)
    return np.where(own, share * near / inside + (1 - share) * (1 - near) / (1 - inside), 1.0)


def _pair_prior(grid: "CellGrid") -> tuple[np.ndarray, np.ndarray]:
    """The photo-density prior of each (cell, country) pair of the share table, and each country's."""
    weight = np.exp(grid.log_prior())[grid.share_cell] * grid.share_weight
    return weight, np.bincount(grid.share_country, weights=weight, minlength=len(grid.countries))


def _admin1_cells(grid: "CellGrid", place: "Place") -> np.ndarray:
    """Cells whose nearest named place lies in this admin-1 region (1/0)."""
    suffix = f", {place.name}, {place.country}"
    return np.fromiter((label.endswith(suffix) for label in grid.places), dtype=np.float64, count=len(grid))


# ---- clue extraction -----------------------------------------------------------------------
