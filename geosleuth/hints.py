"""Analyst hints: what a person already knows ("it is in France", "not the US", "within 50 km of
here") as extra likelihood terms. A hint behaves like a cue: it is fused with a weight and a
floor (an analyst can be wrong too) and is reported with its bits like any cue.

>>> Hint.parse("country=fr").name, Hint.parse("near=48.85,2.35,50").name
('hint:country=FR', 'hint:near=48.85,2.35,50km')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from geosleuth.cues.base import CueOutput, Evidence
from geosleuth.errors import ConfigError, did_you_mean
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.gazetteer import country_name
from geosleuth.gazetteer.countries import countries

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

KINDS = ("country", "exclude", "near")


@dataclass(frozen=True)
class Hint:
    """One analyst hint. Build with `Hint.in_country("FR")`, `Hint.not_in_country("US")`,
    `Hint.near_point(48.85, 2.35, 50)` or `Hint.parse(text)`."""

    kind: str  # country | exclude | near
    country: str = ""
    lat: float = 0.0
    lon: float = 0.0
    radius_km: float = 0.0
    weight: float = 1.0
    # A cell the hint rules out is a million times less likely, never impossible: the prior
    # favours the most photographed countries ~10^4 to one, and a hint must outweigh that.
    floor: float = 1e-6

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown hint kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind in ("country", "exclude"):
            _check_country(self.country)
        else:
            if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
                raise ConfigError(f"hint near: latitude/longitude out of range ({self.lat}, {self.lon})")
            if not (np.isfinite(self.radius_km) and self.radius_km > 0):
                raise ConfigError(f"hint near: radius must be a positive number of km, got {self.radius_km}")
        if not (0 < self.floor < 1) or self.weight < 0:
            raise ConfigError("hint floor must be in (0, 1) and weight >= 0")

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def in_country(cls, code: str) -> "Hint":
        return cls("country", country=code.strip().upper())

    @classmethod
    def not_in_country(cls, code: str) -> "Hint":
        return cls("exclude", country=code.strip().upper())

    @classmethod
    def near_point(cls, lat: float, lon: float, radius_km: float) -> "Hint":
        return cls("near", lat=float(lat), lon=float(lon), radius_km=float(radius_km))

    @classmethod
    def parse(cls, text: str) -> "Hint":
        """`country=FR`, `exclude=US` (or `exclude country=US`), `near=LAT,LON,RADIUS_KM`."""
        key, sep, value = text.strip().partition("=")
        key = re.sub(r"\s+", " ", key.strip().lower())
        if not sep or not value.strip():
            raise ConfigError(f"hint {text!r}: expected country=CC, exclude=CC or near=LAT,LON,RADIUS_KM")
        if key == "country":
            return cls.in_country(value)
        if key in ("exclude", "exclude country", "not country"):
            return cls.not_in_country(value)
        if key == "near":
            return cls.near_point(*_parse_near(value))
        raise ConfigError(f"hint {text!r}: unknown hint {key!r}; expected country, exclude or near")

    # ---- the cue protocol ----------------------------------------------------------------
    @property
    def name(self) -> str:
        if self.kind == "near":
            return f"hint:near={self.lat:g},{self.lon:g},{self.radius_km:g}km"
        return f"hint:{self.kind}={self.country}"

    def observe(self, photo: "Photo | None", grid: "CellGrid") -> CueOutput:
        """The hint's likelihood over cells (the photo is not looked at)."""
        if self.kind == "near":
            # a Gaussian with sigma = radius / 2 puts 86 % of its mass within the radius
            ll = kernel_log_likelihood(grid, self.lat, self.lon, self.radius_km / 2)
            return CueOutput(ll, (Evidence("hint", f"analyst: within about {self.radius_km:g} km of "
                                           f"{self.lat:.4f}, {self.lon:.4f}", 1.0,
                                           details={"lat": self.lat, "lon": self.lon,
                                                    "radius_km": self.radius_km}),), "analyst hint")
        if self.country not in grid.countries:
            return CueOutput.abstain(f"no cell of the grid is in {self.country}")
        named = grid.share_country == grid.countries.index(self.country)  # pairs of the share table
        name = country_name(self.country)
        if self.kind == "country":
            pairs, summary = named, f"analyst: in {name} ({self.country})"
        else:
            pairs, summary = ~named, f"analyst: not in {name} ({self.country})"
        with np.errstate(divide="ignore"):
            ll, country_given_cell = grid.marginalise(np.log(pairs.astype(np.float64)))
        if not np.isfinite(ll).any():
            return CueOutput.abstain(f"every cell of the grid is in {self.country}")
        return CueOutput(ll, (Evidence("hint", summary, 1.0, details={"country": self.country}),), "analyst hint",
                         country_given_cell=country_given_cell)


def parse_hints(hints: Iterable[str] = (), excludes: Iterable[str] = (), nears: Iterable[str] = ()) -> list[Hint]:
    """Hints from the CLI's `--hint country=FR`, `--exclude country=US`, `--near LAT,LON,KM`."""
    out = [Hint.parse(h) for h in hints]
    for e in excludes:
        key, sep, value = e.partition("=")
        if not sep or key.strip().lower() != "country":
            raise ConfigError(f"--exclude {e!r}: expected country=CC")
        out.append(Hint.not_in_country(value))
    out += [Hint.near_point(*_parse_near(n)) for n in nears]
    return out


def _parse_near(value: str) -> tuple[float, float, float]:
    parts = [p.strip().lower().removesuffix("km") for p in value.split(",")]
    try:
        lat, lon, radius = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"near {value!r}: expected LAT,LON,RADIUS_KM, e.g. 48.85,2.35,50") from None
    return lat, lon, radius


def _check_country(code: str) -> None:
    known = countries()
    if code not in known:
        raise ConfigError(f"unknown country code {code!r} (ISO 3166 alpha-2 like FR){did_you_mean(code, list(known))}")
