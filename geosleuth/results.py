"""`Prediction`: the one immutable result; `to_dict()` is the schema, everything else derives
(`to_json`, `to_geojson`, the plain-text `explain`). `geosleuth.interpret` builds it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from geosleuth.cues.base import Evidence
from geosleuth.fusion.confidence import Confidence
from geosleuth.gazetteer import country_name

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

SCHEMA = "geosleuth.prediction/2"


@dataclass(frozen=True, kw_only=True)
class Location:
    """A point the result names in a grid cell: the cell's mean photo location, or a point a cue
    vouched for in it."""

    lat: float
    lon: float
    probability: float  # posterior probability of the cell it lies in
    country: str  # ISO alpha-2 ('' when unknown)
    place: str  # nearest named place
    cell: str  # S2 token
    radius_km: float = 0.0  # how far from the point the place may be: the cell's equal-area radius,
    # or the accuracy of a point a cue vouched for

    def to_dict(self) -> dict[str, Any]:
        return {"lat": round(self.lat, 6), "lon": round(self.lon, 6), "probability": round(self.probability, 6),
                "country": self.country, "place": self.place, "cell": self.cell, "radius_km": round(self.radius_km, 3)}


@dataclass(frozen=True, kw_only=True)
class Candidate(Location):
    """A ranked place: one of the most probable (`Prediction.top_k`, from 1), or what a cue
    report compares the answer with."""

    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, **super().to_dict()}


@dataclass(frozen=True, kw_only=True)
class Answer(Location):
    """The one point a pipeline consumes, chosen under `output.decision`: the highest expected
    GeoScore under the posterior, or the most probable cell."""

    decision: str  # expected_geoscore | most_probable
    expected_geoscore: float  # under the posterior (as good as the posterior is calibrated)

    def to_dict(self) -> dict[str, Any]:
        where = super().to_dict()
        radius = where.pop("radius_km")  # last in the schema's answer
        return {**where, "decision": self.decision, "expected_geoscore": round(self.expected_geoscore, 1),
                "radius_km": radius}


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
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds
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
