"""How much the photo told us: a confidence level from the credible region and the posterior.

    exact      a cue vouched for a point (σ ≤ 1 km) in the region, and the region is at most
               1,000 km² or the point's cell holds its mass
    city       the region is at most 10,000 km² (a metropolitan area)
    region     the region is at most 300,000 km² (a state or province)
    country    one country holds the region's mass of the posterior
    continent  one continent holds it
    none       none of these: "no confident location", with the countries that lead

The levels mean what they say only as far as the posterior is calibrated; `benchmarks/nested.py`
measures how often the region holds the truth on photographers the fit never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from geosleuth.gazetteer import country_name
from geosleuth.gazetteer.countries import countries

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

LEVELS = ("none", "continent", "country", "region", "city", "exact")
EXACT_KM2, CITY_KM2, REGION_KM2 = 1_000.0, 10_000.0, 300_000.0
EXACT_SIGMA_KM = 1.0
CONTINENTS = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe", "NA": "North America",
              "OC": "Oceania", "SA": "South America"}


@dataclass(frozen=True)
class Confidence:
    level: str  # one of LEVELS
    summary: str  # one sentence for a person
    region_km2: float  # area of the credible region it was judged on
    country: str  # most probable country (ISO alpha-2, '' if none)
    country_probability: float
    continent: str  # most probable continent code
    continent_probability: float
    leading: tuple[tuple[str, float], ...]  # the three most probable countries

    @property
    def confident(self) -> bool:
        return self.level != "none"

    def leading_text(self) -> str:
        """The leading countries for a person, e.g. "United States 30%, United Kingdom 10%"."""
        return _named(self.leading)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "summary": self.summary, "region_km2": round(self.region_km2, 1),
                "country": self.country, "country_probability": round(self.country_probability, 4),
                "continent": self.continent, "continent_probability": round(self.continent_probability, 4),
                "leading_countries": {c: round(p, 4) for c, p in self.leading}}


def assess(grid: "CellGrid", posterior: np.ndarray, country_p: np.ndarray, region_cells: np.ndarray, mass: float,
           sharp_points: Sequence[tuple[float, float]] = ()) -> Confidence:
    """The confidence level of a posterior whose country probabilities are `country_p` and whose
    `mass` credible region is `region_cells`; `sharp_points` are (lat, lon) a cue vouched for
    within `EXACT_SIGMA_KM`."""
    area = float(grid.area_km2[region_cells].sum())
    order = np.argsort(-country_p)[:3]
    leading = tuple((grid.countries[i], float(country_p[i])) for i in order if country_p[i] > 0)
    top_country, top_cp = leading[0] if leading else ("", 0.0)
    continent_p = _continent_probabilities(grid, country_p)
    top_continent = max(continent_p, key=continent_p.get, default="")
    top_kp = continent_p.get(top_continent, 0.0)

    at_points = np.unique(grid.lookup(*zip(*sharp_points))) if sharp_points else np.array([], int)
    vouched = np.isin(at_points, region_cells).any() and (
        area <= EXACT_KM2 or posterior[at_points].sum() >= mass * posterior.sum())
    if vouched:
        level, summary = "exact", "Exact: a cue vouched for the point itself"
    elif area <= CITY_KM2:
        level, summary = "city", f"City: the {mass:.0%} region covers {area:,.0f} km²"
    elif area <= REGION_KM2:
        level, summary = "region", f"Region: the {mass:.0%} region covers {area:,.0f} km²"
    elif top_cp >= mass:
        level, summary = "country", f"Country: {country_name(top_country)} ({top_cp:.0%})"
    elif top_kp >= mass:
        level, summary = "continent", f"Continent: {CONTINENTS.get(top_continent, top_continent)} ({top_kp:.0%})"
    else:
        level, summary = "none", f"No confident location; leading countries: {_named(leading)}"
    return Confidence(level, summary, area, top_country, top_cp, top_continent, top_kp, leading)


def _named(leading: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{country_name(c)} {p:.0%}" for c, p in leading)


def _continent_probabilities(grid: "CellGrid", country_p: np.ndarray) -> dict[str, float]:
    codes = _continent_of(grid.countries)
    out: dict[str, float] = {}
    for code, p in zip(codes, country_p):
        if code:
            out[code] = out.get(code, 0.0) + float(p)
    return out


@lru_cache(maxsize=8)
def _continent_of(codes: tuple[str, ...]) -> tuple[str, ...]:
    table = countries()
    return tuple(table.get(c, {}).get("continentcode", "") for c in codes)
