"""Licence plates: where a plate is in the photo, what it says, and which countries issue it.

Pure functions over pixels and strings, used by the `detect` cue. The table of formats, shapes
and colours is data (`gazetteer/data/plates.yaml`, sources noted there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Collection, Sequence

import numpy as np

if TYPE_CHECKING:
    from geosleuth.gazetteer.places import Place

Box = tuple[float, float, float, float]

# Cyrillic letters used on Russian/Ukrainian plates that look like Latin ones.
_LOOKALIKE = str.maketrans("АВЕКМНОРСТУХавекмнорстух", "ABEKMHOPCTYXABEKMHOPCTYX")


@dataclass(frozen=True)
class PlateSpec:
    country: str
    code: str  # international vehicle registration code (the EU band letters)
    band: str  # eu | mercosur | none
    aspect: float
    background: str
    formats: tuple[re.Pattern, ...]


@lru_cache(maxsize=1)
def _plates_yaml() -> dict:
    import yaml

    return yaml.safe_load((resources.files("geosleuth.gazetteer") / "data" / "plates.yaml").read_text("utf-8"))


@lru_cache(maxsize=1)
def plate_specs() -> dict[str, PlateSpec]:
    data = _plates_yaml()
    return {str(cc): PlateSpec(str(cc), str(v["code"]), v["band"], float(v["aspect"]), v["background"],
                               tuple(re.compile(f) for f in v["formats"]))
            for cc, v in data["countries"].items()}


@lru_cache(maxsize=1)
def _plate_words() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[re.Pattern, ...]]]:
    data = _plates_yaml()
    words = {cc: tuple(_letters(str(w)) for w in ws) for cc, ws in data["words"].items()}
    return words, {cc: tuple(re.compile(p) for p in ps) for cc, ps in data["lines"].items()}


def _plain(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _letters(text: str) -> str:
    return re.sub(r"[^A-Z]", "", _plain(text))


def word_countries(lines: Sequence[str]) -> set[str]:
    """Countries named by what a plate prints besides its registration: 'Texas', 'BRASIL',
    Brazil's 'BA-SALVADOR' line."""
    _, patterns = _plate_words()
    out = {p.country for p in printed_places(lines)}
    for line in lines:
        plain = _plain(line).strip()
        out.update(cc for cc, ps in patterns.items() if any(p.match(plain) for p in ps))
    return out


@dataclass(frozen=True)
class PrintedPlace:
    """What a plate's small print names: a Brazilian plate's city line, a US state's name or
    slogan, the Mercosur band's country name."""

    line: str  # as read
    country: str
    place: "Place | None" = None  # the city or state, when the print names one


# Brazil's 1990-2018 plates: "UF-CITY" above the characters (Resolução CONTRAN 231/2007, art. 1 § 1:
# the federation unit's code and the municipality's name on a removable strip).
_BR_UF = ("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO").split()
CITY_LINE_MIN_POPULATION = 20_000  # a city line whose federation unit was not read names a town this big


def printed_places(lines: Sequence[str]) -> list[PrintedPlace]:
    """What a plate's printed lines name, through plates.yaml's words and the gazetteer: a state
    or province by its name (its region) or slogan (its country), a Brazilian municipality on a
    city line (its federation unit's code may be misread or missing: 'A SALVADOR')."""
    from rapidfuzz import fuzz

    from geosleuth.gazetteer.places import Gazetteer

    gazetteer = Gazetteer.default()
    words, _ = _plate_words()
    out: list[PrintedPlace] = []
    for line in lines:
        letters = _letters(line)
        named = next(((cc, n) for cc, names in words.items() for n in names
                      if n in letters or (len(n) >= 6 and fuzz.ratio(n, letters) >= 85)), None)
        if named is not None:
            cc, name = named
            region = next((p for p in gazetteer.lookup(name) if p.kind == "admin1" and p.country == cc), None)
            out.append(PrintedPlace(line, cc, region))
            continue
        plain = re.sub(r"[^A-Z ]+", " ", _plain(line)).split()
        if not plain:
            continue
        coded = plain[0] in _BR_UF
        tail = " ".join(plain[1:] if coded or len(plain[0]) <= 2 else plain)
        city = _brazilian_city(gazetteer, tail, 0 if coded else CITY_LINE_MIN_POPULATION) if len(tail) >= 4 else None
        if city is not None:
            out.append(PrintedPlace(line, "BR", city))
    return out


def _brazilian_city(gazetteer, name: str, min_population: int) -> "Place | None":
    """The most populous Brazilian city called `name` (exactly, else within a letter or two)."""
    exact = [p for p in gazetteer.lookup(name) if p.country == "BR" and p.kind == "city"]
    near = exact or [m.place for m in gazetteer.fuzzy(name, 85.0) if m.place.country == "BR" and m.place.kind == "city"]
    return max((p for p in near if p.population >= min_population), key=lambda p: p.population, default=None)


def normalise_plate(text: str) -> str:
    """Upper-case letters and digits only ('ab-123 cd' -> 'AB123CD'), Cyrillic look-alikes mapped,
    a vertical bar read as the digit one."""
    return re.sub(r"[^A-Z0-9]", "", text.translate(_LOOKALIKE).replace("|", "1").upper())


# Characters OCR swaps on plates; a format that matches only after such swaps counts half.
_AS_DIGIT = "0OQD1IL2Z5S6G8B"
_AS_LETTER = "A-Z0125868"


@lru_cache(maxsize=512)
def _tolerant(pattern: str) -> re.Pattern:
    return re.compile(pattern.replace(r"\d", f"[0-9{_AS_DIGIT}]").replace("[A-Z]", f"[{_AS_LETTER}]"))


def _without_border(chars: str) -> tuple[str, ...]:
    """The characters, and without a first/last stroke that may be the plate's edge or a bolt
    read as I, 1, L or J."""
    out = [chars]
    if len(chars) > 5 and chars[0] in "I1LJ":
        out.append(chars[1:])
    if len(chars) > 5 and chars[-1] in "I1LJ":
        out += [v[:-1] for v in list(out)]
    return tuple(out)


def looks_like_plate(text: str) -> bool:
    """4-8 letters and digits with at least one digit (and mostly not a word or a price)."""
    raw = re.sub(r"[\[\]{}()<>^|'\"`~]", "", text).strip()  # frame and screw marks read as brackets
    chars = normalise_plate(raw)
    if not 4 <= len(chars) <= 8 or not any(c.isdigit() for c in chars):
        return False
    if re.search(r"[€$£%:/]|\d[.,]\d{2}\b", raw):
        return False
    return len(re.sub(r"[\s\-.·]", "", raw)) <= len(chars) + 3


def plate_countries(text: str, *, aspect: float | None = None, band: str | None = None,
                    band_code: str | None = None, background: str | None = None,
                    named: Collection[str] = ()) -> dict[str, float]:
    """Relative likelihood of each country given the plate's characters, shape, colours, band
    code and the countries its other printed words name (`word_countries`): the product of
    `format_countries`, `look_countries` and the code's and words' own factors."""
    fits, looks = format_countries(text), look_countries(aspect, band, background)
    out = {}
    for cc, spec in plate_specs().items():
        w = fits[cc] * looks[cc]
        if band_code:
            w *= 1.0 if band_code == spec.code else 0.05
        if named:
            w *= 1.0 if cc in named else 0.1
        out[cc] = w
    peak = max(out.values())
    return {cc: w / peak for cc, w in out.items()}


# Reads of real plates often miss or garble characters: a read that fits no format of a country
# says little against it.
MISREAD = 0.2


def format_countries(text: str) -> dict[str, float]:
    """Relative likelihood of each country given the plate's characters: 1 for a country whose
    formats fit, 0.5 when one fits after the swaps OCR makes (0/O, 1/I, 8/B...) or without a
    border stroke, 0.3 when only its catch-all does, `MISREAD` otherwise."""
    chars = normalise_plate(text)
    variants = _without_border(chars)
    out = {}
    for cc, spec in plate_specs().items():
        fits = [f for f in spec.formats if f.match(chars)]
        w = (0.3 if fits[0].pattern.startswith("^[A-Z0-9]") else 1.0) if fits else MISREAD  # a catch-all says little
        if w < 0.5 and any(_tolerant(f.pattern).match(c) for f in spec.formats for c in variants):
            w = 0.5
        out[cc] = w
    return out


# A plate's measured width/height strays from its specification's: seen obliquely it narrows
# (cos 30° is 0.87, log 0.14), and a box grown from the characters may stop short of the plate
# or run past it (the broad part).
ASPECT_LOG_SIGMA, ASPECT_OUTLIERS, ASPECT_OUTLIER_SIGMA = 0.15, 0.4, 0.6


def look_countries(aspect: float | None = None, band: str | None = None,
                   background: str | None = None) -> dict[str, float]:
    """Relative likelihood of each country given how the plate looks: its width/height against
    the specification's (`ASPECT_*`), its coloured band (EU left, Mercosur top) and a yellow
    background (UK rear, Dutch and Luxembourg plates)."""
    out = {}
    for cc, spec in plate_specs().items():
        w = 1.0
        if aspect is not None and aspect > 0:
            z = np.log(aspect / spec.aspect)
            w *= float((1 - ASPECT_OUTLIERS) / ASPECT_LOG_SIGMA * np.exp(-0.5 * (z / ASPECT_LOG_SIGMA) ** 2)
                       + ASPECT_OUTLIERS / ASPECT_OUTLIER_SIGMA * np.exp(-0.5 * (z / ASPECT_OUTLIER_SIGMA) ** 2))
        if band is not None:
            w *= 1.0 if band == spec.band else 0.05
        if background == "yellow":
            w *= 1.0 if "yellow" in spec.background else 0.1
        out[cc] = w
    peak = max(out.values())
    return {cc: w / peak for cc, w in out.items()}


def plate_box(image: np.ndarray, text_box: Box) -> Box:
    """Grow a text box to the plate around it: while the next row/column still looks like the
    plate's background (close to the colour just around the characters)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in text_box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    th = max(y1 - y0, 4)
    img = image.astype(np.float32)
    ring = np.concatenate([img[max(y0 - 2, 0):y0 + 1, x0:x1 + 1].reshape(-1, 3),
                           img[y1:min(y1 + 3, h), x0:x1 + 1].reshape(-1, 3)])
    if len(ring) == 0:
        return float(x0), float(y0), float(x1), float(y1)
    background = np.median(ring, axis=0)

    def similar(strip: np.ndarray) -> bool:
        return strip.size > 0 and float(np.median(np.abs(strip.reshape(-1, 3) - background).sum(axis=1))) < 60

    limit_y = int(0.9 * th)
    limit_x = int(0.6 * th)
    for _ in range(limit_y):
        if y0 > 0 and similar(img[y0 - 1, x0:x1 + 1]):
            y0 -= 1
        else:
            break
    for _ in range(limit_y):
        if y1 < h - 1 and similar(img[y1 + 1, x0:x1 + 1]):
            y1 += 1
        else:
            break
    for _ in range(limit_x):
        if x0 > 0 and similar(img[y0:y1 + 1, x0 - 1]):
            x0 -= 1
        else:
            break
    for _ in range(limit_x):
        if x1 < w - 1 and similar(img[y0:y1 + 1, x1 + 1]):
            x1 += 1
        else:
            break
    return float(x0), float(y0), float(x1), float(y1)


def _is_blue(rgb: np.ndarray) -> bool:
    r, g, b = (float(v) for v in rgb)
    return b > 90 and b > r + 40 and b > g + 15


def plate_colours(crop: np.ndarray) -> tuple[str | None, str]:
    """(band, background) of a plate crop: an EU blue strip on the left, a Mercosur blue strip
    on top, and whether the background is yellow or white/other."""
    h, w = crop.shape[:2]
    if h < 6 or w < 12:
        return None, "unknown"
    left = np.median(crop[h // 5: h - h // 5, : max(2, w // 14)].reshape(-1, 3), axis=0)
    top = np.median(crop[: max(2, h // 6), w // 5: w - w // 5].reshape(-1, 3), axis=0)
    body = crop[h // 4: h - h // 4, w // 8: w - w // 8].reshape(-1, 3).astype(np.float32)
    bright = body[body.sum(axis=1) >= np.percentile(body.sum(axis=1), 60)]
    bg = np.median(bright, axis=0) if len(bright) else np.median(body, axis=0)
    band = "eu" if _is_blue(left) else "mercosur" if _is_blue(top) else "none"
    r, g, b = bg
    background = "yellow" if r > 150 and g > 120 and b < 0.6 * min(r, g) else "white" if min(r, g, b) > 150 else "other"
    return band, background


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
