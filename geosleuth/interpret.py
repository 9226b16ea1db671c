"""What a fused posterior says about a photo, as a `Prediction`: the answer (under
`output.decision`, placed at the sharpest point a cue vouched for or claimed in its cell), its
confidence, the most probable places (no two close together), the countries, the credible region,
and each cue's report with how far it moved the answer.

    prediction = interpret(grid, fusion, observations, reviews, image=..., image_size=..., output=...)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence, TypeVar

import numpy as np

from geosleuth.cues.base import Evidence, GeoPoint
from geosleuth.fusion.confidence import EXACT_SIGMA_KM, assess
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.fusion.region import credible_cells
from geosleuth.gazetteer import reverse_lookup
from geosleuth.gazetteer.places import Gazetteer
from geosleuth.geo import haversine_km
from geosleuth.observation import Observation
from geosleuth.results import Answer, Candidate, CueReport, Location, Prediction, Region

if TYPE_CHECKING:
    from geosleuth.fusion.combine import Fusion
    from geosleuth.fusion.grid import CellGrid

Located = TypeVar("Located", bound=Location)


def interpret(grid: "CellGrid", fusion: "Fusion", observations: Sequence[Observation],
              reviews: Mapping[str, tuple[Evidence, ...]], *, image: str, image_size: tuple[int, int],
              output: Mapping[str, Any], warnings: Sequence[str] = ()) -> Prediction:
    """The `Prediction` of a fused posterior (without timings). `observations` are every source
    of evidence, in report order, those that spoke fused into `fusion`; `reviews` are the extra
    evidence of each cue's cross-check; `output` is the config's output section."""
    by_cue = {o.name: o.output.points for o in observations if o.spoke}
    vouched = [p for found in by_cue.values() for p in found]
    post, within = fusion.posterior, fusion.country_given_cell
    decider = GeoScoreDecider.for_grid(grid)
    at = located_cells(grid, vouched)

    def decide(p: np.ndarray) -> int:
        return decider.decide(p, at).cell if output["decision"] == "expected_geoscore" else int(np.argmax(p))

    top = separated_top(grid, post, output["top_k"], output["min_separation_km"])
    candidates = tuple(refine(grid, candidate(grid, int(c), post[c], rank=i + 1, within=within), int(c), vouched)
                       for i, c in enumerate(top))
    cell = decide(post)
    answer = refine(grid, located(Answer, grid, cell, post[cell], within, decision=output["decision"],
                                  expected_geoscore=decider.expected(post, cell, at)), cell, vouched)
    region = credible_cells(post, grid.area_km2, output["credible_mass"])
    country_p = grid.country_probabilities(post, within)
    confidence = assess(grid, post, country_p, region, output["credible_mass"],
                        [(p.lat, p.lon) for p in vouched if not p.claim and p.sigma_km <= EXACT_SIGMA_KM])
    order = np.argsort(-country_p)
    countries = {grid.countries[i]: float(country_p[i]) for i in order if country_p[i] >= 1e-6}

    def report(o: Observation) -> CueReport:
        """The cue's report, with how far it moved the answer when it spoke."""
        said = dict(name=o.name, status=o.status, note=o.output.note, seconds=o.seconds, weight=o.weight,
                    evidence=o.output.evidence + reviews.get(o.name, ()))
        contrib = fusion.contributions.get(o.name)
        if contrib is None:
            return CueReport(**said)
        without = contrib.posterior_without
        shift = country_p - grid.country_probabilities(without, contrib.country_given_cell_without)
        j = int(np.argmax(shift))
        top_wo = decide(without)
        others = [p for cue, found in by_cue.items() if cue != o.name for p in found]
        top_without = refine(grid, candidate(grid, top_wo, without[top_wo], within=contrib.country_given_cell_without),
                             top_wo, others)
        return CueReport(
            **said, bits=contrib.bits,
            favoured_cell=candidate(grid, contrib.favoured_cell, post[contrib.favoured_cell], within=within),
            favoured_country=grid.countries[j] if shift[j] > 0 else None,
            country_shift=float(shift[j]) if shift[j] > 0 else None,
            top_without=top_without,  # the answer had the cue been left out, both as the report shows them:
            moved_km=float(haversine_km(answer.lat, answer.lon, top_without.lat, top_without.lon)),
        )

    reports = {o.name: report(o) for o in observations}
    post.flags.writeable = False
    seen = tuple(f"{name}: {e.summary}" for name, rep in reports.items() for e in rep.evidence if e.kind == "warning")
    return Prediction(image=image, answer=answer, confidence=confidence, top_k=candidates, countries=countries,
                      region=_region(grid, region, output["credible_mass"]), cues=reports,
                      image_size=image_size, warnings=seen + tuple(warnings), grid=grid, posterior=post)


def located(kind: type[Located], grid: "CellGrid", cell: int, probability: float,
            within: np.ndarray | None = None, **fields: Any) -> Located:
    """A cell as a `kind` of `Location` (with its own `fields`), at its mean photo location;
    `within` is what the cues said of the country within cells. When that country is not the one
    the mean location lies in (a cell two countries share), the location is that country's
    largest town in the cell."""
    lat, lon, place = float(grid.lat[cell]), float(grid.lon[cell]), str(grid.places[cell])
    country = grid.country_of(cell, within)
    if country and not place.endswith(", " + country):
        town = Gazetteer.default().largest_town(grid, cell, country)
        if town is not None:
            lat, lon, place = town.lat, town.lon, reverse_lookup([town.lat], [town.lon])[0].label
    return kind(lat=lat, lon=lon, probability=float(probability), country=country, place=place,
                cell=str(grid.tokens[cell]), radius_km=cell_radius_km(grid, cell), **fields)


def candidate(grid: "CellGrid", cell: int, probability: float, rank: int = 1,
              within: np.ndarray | None = None) -> Candidate:
    """A cell as a ranked candidate (see `located`)."""
    return located(Candidate, grid, cell, probability, within, rank=rank)


def cell_radius_km(grid: "CellGrid", cell: int) -> float:
    """The radius of a disc as large as the cell."""
    return float(np.sqrt(grid.area_km2[cell] / np.pi))


def credible_region(grid: "CellGrid", posterior: np.ndarray, mass: float) -> Region:
    """Highest-posterior-density region: cells by probability per km² until `mass` is reached."""
    return _region(grid, credible_cells(posterior, grid.area_km2, mass), mass)


def _region(grid: "CellGrid", cells: np.ndarray, mass: float) -> Region:
    return Region(mass=mass, cells=tuple(grid.tokens[cells].tolist()), area_km2=float(grid.area_km2[cells].sum()))


def placement(grid: "CellGrid", cell: int, points: Sequence[GeoPoint]) -> GeoPoint | None:
    """Where in `cell` to answer: the sharpest point a cue vouched for in it (or within 3 sigma of
    it: a GPS fix near a cell edge spreads over both cells), else the sharpest point a model or
    expert claimed in the cell itself, else None (the cell's mean)."""
    if not points:
        return None
    point_cells = grid.lookup([p.lat for p in points], [p.lon for p in points])
    reach = cell_radius_km(grid, cell)
    seen = [p for p, c in zip(points, point_cells) if not p.claim and (
        c == cell or haversine_km(p.lat, p.lon, grid.lat[cell], grid.lon[cell]) <= reach + 3 * p.sigma_km)]
    claimed = [p for p, c in zip(points, point_cells) if p.claim and c == cell]
    return min(seen or claimed, key=lambda p: p.sigma_km, default=None)


def located_cells(grid: "CellGrid", points: Sequence[GeoPoint]) -> dict[int, tuple[float, float]]:
    """The cells that hold a point a cue vouched for or claimed, each at its sharpest such point
    (a sighting before a claim, as in `placement`): where the decision takes that cell's mass to
    be (`GeoScoreDecider.decide`)."""
    out: dict[int, tuple[float, float]] = {}
    cells = grid.lookup([p.lat for p in points], [p.lon for p in points]) if points else []
    for p, c in sorted(zip(points, cells), key=lambda pc: (not pc[0].claim, -pc[0].sigma_km)):
        out[int(c)] = (p.lat, p.lon)
    return out


def refine(grid: "CellGrid", where: Located, cell: int, points: Sequence[GeoPoint]) -> Located:
    """The location moved to its cell's `placement`, if any."""
    best = placement(grid, cell, points)
    if best is None:
        return where
    named = reverse_lookup([best.lat], [best.lon])[0]
    return replace(where, lat=best.lat, lon=best.lon, place=named.label, country=named.country,
                   radius_km=best.sigma_km)


def separated_top(grid: "CellGrid", posterior: np.ndarray, k: int, min_km: float) -> np.ndarray:
    """The `k` most probable cells, skipping any within `min_km` of one already taken (so the
    alternatives are different places, not neighbouring cells of one city)."""
    chosen: list[int] = []
    for c in np.argsort(-posterior, kind="stable"):
        if not chosen or haversine_km(grid.lat[c], grid.lon[c], grid.lat[chosen], grid.lon[chosen]).min() >= min_km:
            chosen.append(int(c))
            if len(chosen) == k:
                break
    return np.array(chosen)
