"""Analyst hints: what a person already knows ("it is in France", "not the US", "within 50 km of
here", "the shadows point east-south-east") as extra likelihood terms. A hint behaves like a cue:
it is fused with a weight and a floor (an analyst can be wrong too) and is reported with its bits
like any cue.

A shadow hint is the direction shadows point on the ground (degrees clockwise from north), and
optionally the sun's elevation (from a shadow's length: atan(height / length)). With the photo's
EXIF time it says where on Earth the sun stood opposite the shadows at that moment: in UTC when
the file has its offset, else in each cell's own time zone.

>>> Hint.parse("country=fr").name, Hint.parse("near=48.85,2.35,50").name, Hint.parse("shadow=300,35").name
('hint:country=FR', 'hint:near=48.85,2.35,50km', 'hint:shadow=300,35')
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from geosleuth.cues.base import CueOutput, Evidence
from geosleuth.errors import ConfigError, did_you_mean
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.gazetteer import country_name
from geosleuth.gazetteer.countries import countries
from geosleuth.gazetteer.timezones import cell_utc_offsets
from geosleuth.geo import valid_point
from geosleuth.metadata import format_offset
from geosleuth.sun import sun_position

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

KINDS = ("country", "exclude", "near", "shadow")
SHADOW_AZIMUTH_SD = 15.0  # degrees: a shadow's direction read off a photo, the camera's heading guessed
SHADOW_ELEVATION_SD = 7.0  # degrees: the sun's elevation from a shadow's length
SHADOW_FLOOR = 1e-2  # a misread shadow can make a place at most 100 times less likely


@dataclass(frozen=True)
class Hint:
    """One analyst hint. Build with `Hint.in_country("FR")`, `Hint.not_in_country("US")`,
    `Hint.near_point(48.85, 2.35, 50)` or `Hint.parse(text)`."""

    kind: str  # country | exclude | near
    country: str = ""
    lat: float = 0.0
    lon: float = 0.0
    radius_km: float = 0.0
    azimuth: float = 0.0  # shadow: the direction shadows point, degrees clockwise from north
    elevation: float | None = None  # shadow: the sun's elevation, if measured
    weight: float = 1.0
    # A cell the hint rules out is a million times less likely, never impossible: the prior
    # favours the most photographed countries ~10^4 to one, and a hint must outweigh that.
    floor: float = 1e-6

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown hint kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind in ("country", "exclude"):
            _check_country(self.country)
        elif self.kind == "shadow":
            if not (np.isfinite(self.azimuth) and 0 <= self.azimuth <= 360):
                raise ConfigError(f"hint shadow: azimuth must be in [0, 360] degrees, got {self.azimuth}")
            if self.elevation is not None and not (np.isfinite(self.elevation) and 0 < self.elevation < 90):
                raise ConfigError(f"hint shadow: the sun's elevation must be in (0, 90) degrees, got {self.elevation}")
        else:
            if not valid_point(self.lat, self.lon):
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
    def shadow(cls, azimuth: float, elevation: float | None = None) -> "Hint":
        """Shadows point to `azimuth` (degrees clockwise from north); the sun is `elevation` high."""
        return cls("shadow", azimuth=float(azimuth), elevation=None if elevation is None else float(elevation),
                   floor=SHADOW_FLOOR)

    @classmethod
    def parse(cls, text: str) -> "Hint":
        """`country=FR`, `exclude=US` (or `exclude country=US`), `near=LAT,LON,RADIUS_KM`,
        `shadow=AZIMUTH[,ELEVATION]`."""
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
        if key == "shadow":
            return cls.shadow(*_parse_shadow(value))
        raise ConfigError(f"hint {text!r}: unknown hint {key!r}; expected country, exclude, near or shadow")

    # ---- the cue protocol ----------------------------------------------------------------
    @property
    def name(self) -> str:
        if self.kind == "near":
            return f"hint:near={self.lat:g},{self.lon:g},{self.radius_km:g}km"
        if self.kind == "shadow":
            return f"hint:shadow={self.azimuth:g}" + ("" if self.elevation is None else f",{self.elevation:g}")
        return f"hint:{self.kind}={self.country}"

    def observe(self, photo: "Photo | None", grid: "CellGrid") -> CueOutput:
        """The hint's likelihood over cells (only a shadow hint reads the photo: its time)."""
        if self.kind == "shadow":
            return self._observe_shadow(photo, grid)
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

    def _observe_shadow(self, photo: "Photo | None", grid: "CellGrid") -> CueOutput:
        md = photo.metadata if photo is not None else None
        if md is None or md.taken is None:
            return CueOutput.abstain("the shadow hint needs the photo's date and time (EXIF DateTimeOriginal)")
        sun_az = (self.azimuth + 180) % 360
        if md.utc_offset is not None:
            when = md.taken.replace(tzinfo=dt.timezone(md.utc_offset))
            likelihood, clock = self._sun_likelihood(grid.lat, grid.lon, when), f"UTC{format_offset(md.utc_offset)}"
        else:  # local time: the same wall-clock time in each cell's own time zone
            cells, offsets, share = cell_utc_offsets(grid, md.taken)
            per_pair = np.zeros(len(cells))
            for minutes in np.unique(offsets[np.isfinite(offsets)]):
                at = offsets == minutes
                when = md.taken.replace(tzinfo=dt.timezone(dt.timedelta(minutes=float(minutes))))
                per_pair[at] = self._sun_likelihood(grid.lat[cells[at]], grid.lon[cells[at]], when)
            total = np.bincount(cells, weights=share, minlength=len(grid))
            likelihood = np.bincount(cells, weights=share * per_pair, minlength=len(grid)) / np.maximum(total, 1e-12)
            clock = "local time in each place's time zone"
        if likelihood.max() <= 0:
            return CueOutput.abstain(f"the sun stood nowhere at {sun_az:.0f}° then ({md.taken:%Y-%m-%d %H:%M})")
        sun = f"the sun at {sun_az:.0f}°" + ("" if self.elevation is None else f", {self.elevation:.0f}° high")
        summary = f"analyst: shadows point to {self.azimuth:.0f}°, so {sun} at {md.taken:%Y-%m-%d %H:%M} ({clock})"
        with np.errstate(divide="ignore"):
            ll = np.log(likelihood)
        return CueOutput(ll, (Evidence("hint", summary, 1.0, details={"shadow_azimuth": self.azimuth,
                                                                      "sun_elevation": self.elevation}),),
                         "analyst hint")

    def _sun_likelihood(self, lat: np.ndarray, lon: np.ndarray, when: dt.datetime) -> np.ndarray:
        """How well the sun's position at each point matches the shadows: a von Mises on the
        azimuth, a Gaussian on the elevation if given; nothing where the sun was down."""
        azimuth, elevation = sun_position(lat, lon, when)
        off = np.radians(azimuth - (self.azimuth + 180))
        out = np.exp((np.cos(off) - 1) / np.radians(SHADOW_AZIMUTH_SD) ** 2)
        if self.elevation is not None:
            out *= np.exp(-0.5 * ((elevation - self.elevation) / SHADOW_ELEVATION_SD) ** 2)
        return np.where(elevation > 0, out, 0.0)


def parse_hints(hints: Iterable[str] = (), excludes: Iterable[str] = (), nears: Iterable[str] = (),
                shadows: Iterable[str] = ()) -> list[Hint]:
    """Hints from the CLI's `--hint country=FR`, `--exclude country=US`, `--near LAT,LON,KM`,
    `--shadow AZIMUTH[,ELEVATION]`."""
    out = [Hint.parse(h) for h in hints]
    for e in excludes:
        key, sep, value = e.partition("=")
        if not sep or key.strip().lower() != "country":
            raise ConfigError(f"--exclude {e!r}: expected country=CC")
        out.append(Hint.not_in_country(value))
    out += [Hint.near_point(*_parse_near(n)) for n in nears]
    out += [Hint.shadow(*_parse_shadow(s)) for s in shadows]
    return out


def _parse_shadow(value: str) -> tuple[float, float | None]:
    parts = [p.strip().lower().removesuffix("deg").removesuffix("°") for p in value.split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2):
        raise ConfigError(f"shadow {value!r}: expected AZIMUTH[,ELEVATION] in degrees, e.g. 300 or 300,35")
    return numbers[0], numbers[1] if len(numbers) == 2 else None


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
