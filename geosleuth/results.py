"""`Prediction`: the one immutable result; `to_dict()` is the schema, everything else derives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence, TypeVar

import numpy as np

from geosleuth.cues.base import Evidence, GeoPoint
from geosleuth.fusion.confidence import EXACT_SIGMA_KM, Confidence, assess
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.fusion.region import credible_cells
from geosleuth.gazetteer import country_name, reverse_lookup
from geosleuth.gazetteer.places import Gazetteer
from geosleuth.geo import haversine_km

if TYPE_CHECKING:
    from geosleuth.fusion.combine import Fusion
    from geosleuth.fusion.grid import CellGrid

SCHEMA = "geosleuth.prediction/2"


@dataclass(frozen=True)
class Candidate:
    """A candidate place: the mean photo location of a grid cell."""

    rank: int
    lat: float
    lon: float
    probability: float
    country: str  # ISO alpha-2 ('' when unknown)
    place: str  # nearest named place
    cell: str  # S2 token
    radius_km: float = 0.0  # how far from the point the place may be: the cell's equal-area radius,
    # or the accuracy of a point a cue vouched for

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "lat": round(self.lat, 6), "lon": round(self.lon, 6),
                "probability": round(self.probability, 6), "country": self.country, "place": self.place,
                "cell": self.cell, "radius_km": round(self.radius_km, 3)}


@dataclass(frozen=True)
class Answer:
    """The one point a pipeline consumes, chosen under `output.decision`: the highest expected
    GeoScore under the posterior, or the most probable cell."""

    lat: float
    lon: float
    probability: float  # posterior probability of the cell it lies in
    country: str
    place: str
    cell: str
    decision: str  # expected_geoscore | most_probable
    expected_geoscore: float  # under the posterior (as good as the posterior is calibrated)
    radius_km: float = 0.0  # as for a candidate

    def to_dict(self) -> dict[str, Any]:
        return {"lat": round(self.lat, 6), "lon": round(self.lon, 6), "probability": round(self.probability, 6),
                "country": self.country, "place": self.place, "cell": self.cell, "decision": self.decision,
                "expected_geoscore": round(self.expected_geoscore, 1), "radius_km": round(self.radius_km, 3)}


@dataclass(frozen=True)
class CueReport:
    """What one cue saw and how far it moved the answer."""

    name: str
    status: str  # ok | abstained | failed
    note: str = ""
    evidence: tuple[Evidence, ...] = ()
    seconds: float = 0.0
    weight: float = 0.0
    bits: float | None = None  # information added, KL(with || without) in bits
    favoured_cell: Candidate | None = None  # best cell under the prior and this cue alone
    favoured_country: str | None = None  # country it moved most probability towards
    country_shift: float | None = None  # how much probability that country gained
    top_without: Candidate | None = None  # the answer had this cue been left out
    moved_km: float | None = None  # distance between the answers with and without the cue

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "note": self.note, "weight": self.weight,
                "bits": None if self.bits is None else round(self.bits, 4),
                "favoured_cell": self.favoured_cell.to_dict() if self.favoured_cell else None,
                "favoured_country": self.favoured_country,
                "country_shift": None if self.country_shift is None else round(self.country_shift, 4),
                "top_without": self.top_without.to_dict() if self.top_without else None,
                "moved_km": None if self.moved_km is None else round(self.moved_km, 3),
                "seconds": round(self.seconds, 4), "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True)
class Region:
    """The smallest set of cells (by density) holding `mass` of the posterior."""

    mass: float
    cells: tuple[str, ...]
    area_km2: float

    def to_dict(self) -> dict[str, Any]:
        return {"mass": self.mass, "cells": len(self.cells), "area_km2": round(self.area_km2, 1),
                "tokens": list(self.cells)}


@dataclass(frozen=True, eq=False)
class Prediction:
    """Where the photo was probably taken, with the evidence for it."""

    image: str
    answer: Answer
    confidence: Confidence
    top_k: tuple[Candidate, ...]  # most probable cells, no two within `output.min_separation_km`
    countries: Mapping[str, float]  # ISO alpha-2 -> probability, descending
    region: Region
    cues: Mapping[str, CueReport]
    timings: Mapping[str, float]  # seconds
    image_size: tuple[int, int] = (0, 0)
    warnings: tuple[str, ...] = ()  # evidence of kind "warning" from any cue (e.g. spoofed metadata)
    grid: "CellGrid | None" = field(default=None, repr=False)
    posterior: np.ndarray | None = field(default=None, repr=False)  # read-only, over grid cells

    @property
    def best(self) -> Answer:
        """The answer (`output.decision`); its `confidence` says how far to trust it."""
        return self.answer

    # ---- serialisations -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The versioned schema every other output derives from."""
        return {
            "schema": SCHEMA,
            "image": self.image,
            "image_size": list(self.image_size),
            "answer": self.answer.to_dict(),
            "confidence": self.confidence.to_dict(),
            "top_k": [c.to_dict() for c in self.top_k],
            "countries": {k: round(v, 6) for k, v in self.countries.items()},
            "credible_region": self.region.to_dict(),
            "warnings": list(self.warnings),
            "cues": {name: r.status for name, r in self.cues.items()},
            "cue_reports": {name: r.to_dict() for name, r in self.cues.items()},
            "timings_ms": {k: round(v * 1000, 2) for k, v in self.timings.items()},
            "grid": {"cells": 0 if self.grid is None else len(self.grid),
                     "created": None if self.grid is None else self.grid.meta.get("created")},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_geojson(self) -> dict[str, Any]:
        """A FeatureCollection for GIS: the answer and the candidates as points (rank, probability,
        radius), each place an expert claimed (its cue, what it stated, the spread it is trusted
        within), and one polygon per cell of the credible region with its probability and its
        density per km², to draw as a heatmap."""
        d = self.to_dict()
        points = [("answer", {**d["answer"], "rank": 0})] + [("candidate", c) for c in d["top_k"]]
        points += [("expert_claim", {"cue": name, **ev.details}) for name, rep in self.cues.items()
                   for ev in rep.evidence if ev.kind == "expert_claim"]
        features: list[dict[str, Any]] = [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
             "properties": {"kind": kind, **{k: v for k, v in c.items() if k not in ("lat", "lon")}}}
            for kind, c in points
        ]
        if self.grid is not None and self.posterior is not None:
            tokens = d["credible_region"]["tokens"]
            for token, i in zip(tokens, self.grid.index_of(tokens).tolist()):
                p, area = float(self.posterior[i]), float(self.grid.area_km2[i])
                digits = int(np.clip(np.round(np.log10(11_132 / np.sqrt(area))), 1, 6))  # ~1 % of its width
                rings = [[[round(x, digits), round(y, digits)] for x, y in ring]
                         for ring in self.grid.polygon(i, points_per_edge=1)]
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": rings},
                                 "properties": {"kind": "cell", "cell": token, "probability": float(f"{p:.3g}"),
                                                "density_per_km2": float(f"{p / area:.3g}"), "area_km2": float(f"{area:.3g}")}})
        region = {k: v for k, v in d["credible_region"].items() if k != "tokens"}
        return {"type": "FeatureCollection", "features": features,
                "properties": {"image": self.image, "credible_region": region}}

    def explain(self) -> str:
        """A plain-text report: answer, alternatives, countries, region, and every cue."""
        lines = [f"geosleuth report: {self.image}", *self.headline()]
        lines += [f"WARNING  {w}" for w in self.warnings]
        lines += ["", "Most probable places:"]
        for c in self.top_k:
            lines.append(f"  {c.rank}. {_fmt_latlon(c.lat, c.lon)}  {c.probability:6.1%}  {c.place}")
        lines += ["", "Countries:"]
        for code, p in list(self.countries.items())[:5]:
            lines.append(f"  {code}  {country_name(code):<28} {p:6.1%}")
        r = self.region
        lines += ["", f"{r.mass:.0%} credible region: {counted(len(r.cells), 'cell')}, {r.area_km2:,.0f} km²", "", "Cues:"]
        if not self.cues:
            lines.append("  (none ran: this is the photo-density prior alone)")
        for name, rep in self.cues.items():
            head = f"  {name:<10} {rep.status:<9}"
            if rep.status == "ok":
                head += f" {rep.bits:5.2f} bits"
                if rep.favoured_country:
                    head += f", favoured {rep.favoured_country} (+{rep.country_shift:.0%})"
                if rep.top_without is not None and rep.moved_km is not None:
                    head += f", moved the answer {rep.moved_km:,.0f} km (without it: {rep.top_without.place})"
            elif rep.note:
                head += f" {rep.note}"
            lines.append(head)
            for e in rep.evidence:
                lines.append(f"      - {e.summary}" + (f" ({e.sureness})" if e.sureness else ""))
        total = self.timings.get("total")
        if total is not None:
            lines += ["", f"Time: {total * 1000:.0f} ms"]
        return "\n".join(lines)

    def headline(self, with_confidence: bool = True) -> list[str]:
        """The answer as a person should read it, with its confidence (unless the caller shows
        it), and what is known when nothing in the photo located it."""
        a, conf = self.answer, self.confidence
        how = ("highest expected GeoScore" if a.decision == "expected_geoscore"
               else f"most probable cell, p = {a.probability:.1%}")
        if conf.confident:
            lines = [f"Answer      {_fmt_latlon(a.lat, a.lon)}  {a.place}  ({how})"]
            lines += [f"Confidence  {conf.summary}"] if with_confidence else []
        else:
            lines = ["No confident location.",
                     f"Leading countries: {conf.leading_text()}",
                     f"For scoring pipelines: {_fmt_latlon(a.lat, a.lon)} near {a.place} ({how}; not a sighting)"]
        if conf.country and a.country and conf.country != a.country:
            lines.append(f"Note: the most probable country is {country_name(conf.country)} "
                         f"({conf.country_probability:.0%}), but the answer lies in {country_name(a.country)}")
        return lines


def counted(n: int, noun: str) -> str:
    """'1 cell', '3 cells'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _fmt_latlon(lat: float, lon: float) -> str:
    return f"{abs(lat):.4f}°{'N' if lat >= 0 else 'S'} {abs(lon):.4f}°{'E' if lon >= 0 else 'W'}"


def candidate(grid: "CellGrid", cell: int, probability: float, rank: int = 1,
              within: np.ndarray | None = None) -> Candidate:
    """A cell as a candidate, at its mean photo location; `within` is what the cues said of the
    country within cells. When that country is not the one the mean location lies in (a cell two
    countries share), the candidate is that country's largest town in the cell."""
    lat, lon, place = float(grid.lat[cell]), float(grid.lon[cell]), str(grid.places[cell])
    country = grid.country_of(cell, within)
    if country and not place.endswith(", " + country):
        town = Gazetteer.default().largest_town(grid, cell, country)
        if town is not None:
            lat, lon, place = town.lat, town.lon, reverse_lookup([town.lat], [town.lon])[0].label
    return Candidate(rank=rank, lat=lat, lon=lon, probability=float(probability), country=country, place=place,
                     cell=str(grid.tokens[cell]), radius_km=cell_radius_km(grid, cell))


def cell_radius_km(grid: "CellGrid", cell: int) -> float:
    """The radius of a disc as large as the cell."""
    return float(np.sqrt(grid.area_km2[cell] / np.pi))


def credible_region(grid: "CellGrid", posterior: np.ndarray, mass: float) -> Region:
    """Highest-posterior-density region: cells by probability per km² until `mass` is reached."""
    return _region(grid, credible_cells(posterior, grid.area_km2, mass), mass)


def _region(grid: "CellGrid", cells: np.ndarray, mass: float) -> Region:
    return Region(mass=mass, cells=tuple(grid.tokens[cells].tolist()), area_km2=float(grid.area_km2[cells].sum()))


Located = TypeVar("Located", Candidate, Answer)


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


def refine(grid: "CellGrid", cand: Located, cell: int, points: Sequence[GeoPoint]) -> Located:
    """The candidate moved to its cell's `placement`, if any."""
    best = placement(grid, cell, points)
    if best is None:
        return cand
    named = reverse_lookup([best.lat], [best.lon])[0]
    return replace(cand, lat=best.lat, lon=best.lon, place=named.label, country=named.country, radius_km=best.sigma_km)


def prediction_fields(*, grid: "CellGrid", fusion: "Fusion", reports: Mapping[str, CueReport], image: str,
                      image_size: tuple[int, int], output: Mapping[str, Any],
                      points: Mapping[str, Sequence[GeoPoint]] | None = None,
                      warnings: Sequence[str] = ()) -> dict[str, Any]:
    """What a fused posterior says, as the fields of a `Prediction` (all but its timings): the
    answer and its confidence, top-k, countries, credible region, and each cue's report with its
    contribution filled in. `output` is the config's output section; `points` are the precise
    locations each cue vouched for or claimed (`GeoPoint.claim`)."""
    by_cue = dict(points or {})
    vouched = [p for found in by_cue.values() for p in found]
    post = fusion.posterior
    top = separated_top(grid, post, output["top_k"], output["min_separation_km"])
    candidates = tuple(candidate(grid, int(c), post[c], rank=i + 1, within=fusion.country_given_cell)
                       for i, c in enumerate(top))
    decider = GeoScoreDecider.for_grid(grid)
    at = located_cells(grid, vouched)

    def decide(p: np.ndarray) -> int:
        return decider.decide(p, at).cell if output["decision"] == "expected_geoscore" else int(np.argmax(p))

    cell = decide(post)
    expected = decider.expected(post, cell, at)
    within = fusion.country_given_cell
    best = candidate(grid, cell, post[cell], within=within)
    answer = Answer(best.lat, best.lon, best.probability, best.country, best.place, best.cell, output["decision"],
                    expected, best.radius_km)
    if vouched:
        candidates = tuple(refine(grid, cand, int(c), vouched) for cand, c in zip(candidates, top))
        answer = refine(grid, answer, cell, vouched)
    region = credible_cells(post, grid.area_km2, output["credible_mass"])
    country_p = grid.country_probabilities(post, within)
    confidence = assess(grid, post, country_p, region, output["credible_mass"],
                        [(p.lat, p.lon) for p in vouched if not p.claim and p.sigma_km <= EXACT_SIGMA_KM])

    order = np.argsort(-country_p)
    countries = {grid.countries[i]: float(country_p[i]) for i in order if country_p[i] >= 1e-6}

    filled: dict[str, CueReport] = {}
    for name, rep in reports.items():
        contrib = fusion.contributions.get(name)
        if contrib is None:
            filled[name] = rep
            continue
        without = contrib.posterior_without
        shift = country_p - grid.country_probabilities(without, contrib.country_given_cell_without)
        j = int(np.argmax(shift))
        top_wo = decide(without)
        others = [p for cue, found in by_cue.items() if cue != name for p in found]
        top_without = refine(grid, candidate(grid, top_wo, without[top_wo], within=contrib.country_given_cell_without),
                             top_wo, others)
        filled[name] = CueReport(
            name=rep.name, status=rep.status, note=rep.note, evidence=rep.evidence, seconds=rep.seconds,
            weight=rep.weight, bits=contrib.bits, favoured_cell=candidate(grid, contrib.favoured_cell,
                                                                          post[contrib.favoured_cell], within=within),
            favoured_country=grid.countries[j] if shift[j] > 0 else None,
            country_shift=float(shift[j]) if shift[j] > 0 else None,
            top_without=top_without,  # the answer had the cue been left out, both as the report shows them:
            moved_km=float(haversine_km(answer.lat, answer.lon, top_without.lat, top_without.lon)),
        )
    post.flags.writeable = False
    seen = tuple(f"{name}: {e.summary}" for name, rep in filled.items() for e in rep.evidence if e.kind == "warning")
    return dict(image=image, answer=answer, confidence=confidence, top_k=candidates, countries=countries,
                region=_region(grid, region, output["credible_mass"]),
                cues=filled, image_size=image_size, warnings=seen + tuple(warnings), grid=grid, posterior=post)


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
