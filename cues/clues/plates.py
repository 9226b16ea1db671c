"""Licence plates: where a plate is in the photo, what it says, and which countries issue it.

Pure functions over pixels and strings, used by the `detect` cue. The table of formats, shapes
and colours is data (`gazetteer/data/plates.yaml`, sources noted there).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Collection, Sequence

import numpy as np

from geosleuth.gazetteer.languages import LATIN_LOOKALIKES

if TYPE_CHECKING:
    from geosleuth.gazetteer.places import Place

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PlateSpec:
    country: str
    code: str  # international vehicle registration code (the EU band letters)
    band: str  # eu | mercosur | none
    size: tuple[int, int]  # the standard plate's width and height, mm
    background: str
    formats: tuple[re.Pattern, ...]

    @property
    def aspect(self) -> float:
        return self.size[0] / self.size[1]


@lru_cache(maxsize=1)
def _plates_yaml() -> dict:
    import yaml

    return yaml.safe_load((resources.files("geosleuth.gazetteer") / "data" / "plates.yaml").read_text("utf-8"))


@lru_cache(maxsize=1)
def plate_specs() -> dict[str, PlateSpec]:
    data = _plates_yaml()
    return {str(cc): PlateSpec(str(cc), str(v["code"]), v["band"], (int(v["size"][0]), int(v["size"][1])),
                               v["background"],
                               tuple(re.compile(f) for f in v["formats"]))
            for cc, v in data["countries"].items()}


@lru_cache(maxsize=1)
def _plate_words() -> tuple[tuple[tuple[str, tuple[str, str]], ...], dict[str, tuple[re.Pattern, ...]]]:
    """Each word a plate may print (letters only, the longest first) with its country and the
    region it names; the line patterns per country."""
    data = _plates_yaml()
    words = {_letters(str(w)): (str(cc), str(w)) for cc, ws in data["words"].items() for w in ws}
    words.update({_letters(str(w)): (str(cc), str(region))
                  for cc, named in data["slogans"].items() for w, region in named.items()})
    return (tuple(sorted(words.items(), key=lambda item: -len(item[0]))),
            {cc: tuple(re.compile(p) for p in ps) for cc, ps in data["lines"].items()})


def _plain(text: str) -> str:
    """Upper case without accents, Greek and Cyrillic look-alikes as the Latin letters they are
    on a plate ('ВА-САМАСАЋ', the Cyrillic model's read of 'BA-CAMACARI')."""
    import unicodedata

    return unicodedata.normalize("NFKD", text.translate(LATIN_LOOKALIKES)).encode("ascii", "ignore").decode().upper()


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
_CITY_LINE = re.compile(r"^\W*[A-Z]{2} ?[-~=.:]")  # a federation unit's code and its separator
CITY_LINE_FUZZY = 70.0  # the least similarity of a badly read name after them


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
        # Printed whole, the longest first (WEST VIRGINIA, not VIRGINIA), else with a letter or two misread.
        n, named = next(((n, found) for n, found in words if n in letters), None) or \
            next(((n, found) for n, found in words if len(n) >= 6 and abs(len(n) - len(letters)) <= 1
                  and fuzz.ratio(n, letters) >= 85), ("", None))
        region = None if named is None else \
            next((p for p in gazetteer.lookup(named[1]) if p.kind == "admin1" and p.country == named[0]), None)
        # A line longer than the country's name it holds may name a city ('BRASILIA' holds BRASIL).
        city = _city_line(gazetteer, line) if region is None and len(letters) > len(n) + 1 else None
        if city is not None:
            out.append(PrintedPlace(line, "BR", city))
        elif named is not None:
            out.append(PrintedPlace(line, named[0], region))
    return out


def _city_line(gazetteer, line: str) -> "Place | None":
    """The Brazilian municipality a plate's city line names: 'UF-CITY', the code and separator
    perhaps misread, the name perhaps read badly after them."""
    plain = re.sub(r"[^A-Z ]+", " ", _plain(line)).split()
    if not plain:
        return None
    coded = plain[0] in _BR_UF
    tail = " ".join(plain[1:] if coded or len(plain[0]) <= 2 else plain)
    city = _brazilian_city(gazetteer, tail, 0 if coded else CITY_LINE_MIN_POPULATION) if len(tail) >= 4 else None
    if city is None and coded and _CITY_LINE.match(_plain(line)) and len(tail.replace(" ", "")) >= 6:
        # 'UF-' then a name read badly ('BA~SALYADDON', 'PE- SAL A DORI'): the layout says it is a city line.
        city = _brazilian_city(gazetteer, tail.replace(" ", ""), 0, CITY_LINE_FUZZY)
    return city


def _brazilian_city(gazetteer, name: str, min_population: int, fuzzy: float = 85.0) -> "Place | None":
    """The most populous Brazilian city called `name` (exactly, else within a letter or two)."""
    exact = [p for p in gazetteer.lookup(name) if p.country == "BR" and p.kind == "city"]
    near = exact or [m.place for m in gazetteer.fuzzy(name, fuzzy)
                     if m.place.country == "BR" and m.place.kind == "city"]
    return max((p for p in near if p.population >= min_population), key=lambda p: p.population, default=None)


def normalise_plate(text: str) -> str:
    """Upper-case letters and digits only ('ab-123 cd' -> 'AB123CD'), Greek and Cyrillic look-alikes
    mapped (Russian and Greek plates use only those; a Latin plate read by their models comes out
    in them), a vertical bar read as the digit one."""
    return re.sub(r"[^A-Z0-9]", "", text.translate(LATIN_LOOKALIKES).replace("|", "1").upper())


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
            w *= 1.0 if band_code == spec.code else 0.01
        if named:
            w *= 1.0 if cc in named else 0.1
        out[cc] = w
    peak = max(out.values())
    return {cc: w / peak for cc, w in out.items()}


# How often a read's characters are taken to be all right; otherwise the read is any string of its
# length. Far below the share of real plates read exactly, because a misread often fits another
# country's format (chosen out of region: benchmarks/eval_plates.py, `check`).
READ_RIGHT = 0.01
# The formats are approximations (a district list for one country, a catch-all for another): the
# characters alone never favour one country over another more than this.
FORMAT_RANGE = 20.0


def format_countries(text: str) -> dict[str, float]:
    """Relative likelihood of each country given the plate's characters, relative to the most
    likely: a format that fits says as much as it is specific (one of `format_size` strings), so
    'RK755AJ' fits Slovakia's district-coded format better than a US catch-all; a fit after the
    swaps OCR makes (0/O, 1/I, 8/B...) is as specific as the format with those swaps allowed, and
    one without a border stroke read as a character (I, 1, L, J) counts that character as any; a
    misread (`READ_RIGHT`) fits every country alike."""
    chars = normalise_plate(text)
    misread = (1 - READ_RIGHT) * 36.0 ** -max(len(chars), 1)
    out = {}
    for cc, spec in plate_specs().items():
        fit = max((1 / format_size(f.pattern) for f in spec.formats if f.match(chars)), default=0.0)
        for variant in _without_border(chars):  # a dropped stroke was any of 36 characters
            fit = max([fit] + [36.0 ** (len(variant) - len(chars)) / format_size(t.pattern)
                               for t in map(_tolerant, (f.pattern for f in spec.formats)) if t.match(variant)])
        out[cc] = READ_RIGHT * fit + misread
    peak = max(out.values())
    return {cc: max(w / peak, 1 / FORMAT_RANGE) for cc, w in out.items()}


_TOKEN = re.compile(r"(\[[^\]]+\]|\\d|\([^)]*\)|[A-Z0-9])(\{(\d+)(?:,(\d+))?\}|\?)?")


@lru_cache(maxsize=256)
def format_size(pattern: str) -> float:
    """How many strings a format's regular expression admits (the subset plates.yaml uses:
    classes, \\d, alternations of codes, literals, {m}, {m,n} and ?)."""
    total = 1.0
    for token, quantifier, low, high in _TOKEN.findall(pattern.strip("^$")):
        if token == "\\d":
            n = 10
        elif token.startswith("["):
            body = token[1:-1]
            n = sum(ord(b) - ord(a) + 1 for a, b in re.findall(r"(.)-(.)", body)) + len(re.sub(r".-.", "", body))
        elif token.startswith("("):
            n = len(token[1:-1].split("|"))
        else:
            n = 1
        if quantifier == "?":
            total *= 1 + n
        elif quantifier:
            total *= sum(n ** k for k in range(int(low), int(high or low) + 1))
        else:
            total *= n
    return total


# A plate's measured width/height strays from its specification's: seen obliquely it narrows
# (cos 30° is 0.87, log 0.14), and the box found around the characters may stop short of the
# plate or run past it, by a factor that differs by plate design (the spread is chosen out of
# region: benchmarks/eval_plates.py, `check`); the broad part is a box that went wrong.
ASPECT_LOG_SIGMA, ASPECT_OUTLIERS, ASPECT_OUTLIER_SIGMA = 0.45, 0.4, 0.6


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


SHAPE_NAMED_WITHIN = 0.12  # log width/height: a plate this close to a specification is said to match it


def shape_words(aspect: float) -> str:
    """The measured width/height and the specified plates it is close to: '3.1:1, as BR, AR
    (400 x 130 mm)'."""
    specs = sorted(plate_specs().values(), key=lambda spec: abs(np.log(aspect / spec.aspect)))
    near = [spec.country for spec in specs if abs(np.log(aspect / spec.aspect)) <= SHAPE_NAMED_WITHIN]
    if not near:
        return f"{aspect:.1f}:1"
    common = Counter(spec.size for spec in specs if spec.country in near).most_common(1)[0][0]
    size = f"{common[0]} x {common[1]} mm"
    return f"{aspect:.1f}:1, as " + (f"{', '.join(near)} ({size})" if len(near) <= 4 else
                                     f"{len(near)} countries' plates ({size})")


def plate_box(image: np.ndarray, text_box: Box) -> Box:
    """The plate around its characters' box: the bright panel they sit on (`_panel`), else the
    box grown while its edges look like the plate's background (`_grown`); a blue band at either
    end taken in (`_with_bands`)."""
    panel = _panel(image, text_box)
    return _with_bands(image, panel if panel is not None else _grown(image, text_box))


def _panel(image: np.ndarray, text_box: Box) -> Box | None:
    """The bright region holding the characters, found in a window around them: Otsu's threshold
    of the grey window, closed over the strokes, the component under the characters' middle.
    None when it is not plate-like (dark plates, a panel running into a white car)."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = text_box
    th, tw = max(y1 - y0, 4.0), max(x1 - x0, 4.0)
    wx0, wy0 = int(max(x0 - max(1.2 * th, 0.25 * tw), 0)), int(max(y0 - 0.9 * th, 0))
    wx1, wy1 = int(min(x1 + max(1.2 * th, 0.25 * tw), w - 1)), int(min(y1 + 0.9 * th, h - 1))
    window = image[wy0:wy1 + 1, wx0:wx1 + 1]
    if window.shape[0] < 8 or window.shape[1] < 16:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(window), cv2.COLOR_RGB2GRAY)
    _, bright = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(int(0.2 * th), 3)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    cy = int((y0 + y1) / 2) - wy0
    row = labels[min(max(cy, 0), labels.shape[0] - 1), max(int(x0) - wx0, 0):int(x1) - wx0 + 1]
    ids, counts = np.unique(row[row > 0], return_counts=True)
    if not len(ids) or counts.max() < 0.6 * len(row):
        return None
    left, top, width, height = stats[ids[np.argmax(counts)], :4]
    box = (float(wx0 + left), float(wy0 + top), float(wx0 + left + width - 1), float(wy0 + top + height - 1))
    touches = (left == 0 and wx0 > 0) + (left + width == window.shape[1] and wx1 < w - 1) + \
        (top == 0 and wy0 > 0) + (top + height == window.shape[0] and wy1 < h - 1)
    if touches or not th <= box[3] - box[1] <= 3.2 * th or box[2] - box[0] < tw:
        return None
    return box


def _grown(image: np.ndarray, text_box: Box) -> Box:
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


def _with_bands(image: np.ndarray, box: Box) -> Box:
    """A blue band (the EU's on the left, Italy's and France's on the right too) ends the plate's
    background but not the plate: taken in, up to half the height wide (the EU's is 40-50 mm of 110)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    band = int(0.5 * (y1 - y0 + 1))
    run = 0
    while run < band and x0 - run > 0 and _is_blue(np.median(image[y0:y1 + 1, x0 - run - 1], axis=0)):
        run += 1
    x0 -= run if run >= 0.15 * (y1 - y0 + 1) else 0
    run = 0
    while run < band and x1 + run < w - 1 and _is_blue(np.median(image[y0:y1 + 1, x1 + run + 1], axis=0)):
        run += 1
    x1 += run if run >= 0.15 * (y1 - y0 + 1) else 0
    return float(x0), float(y0), float(x1), float(y1)


def _is_blue(rgb: np.ndarray) -> bool:
    """A saturated blue, as the EU and Mercosur bands are (EU blue is (0, 51, 153)); the pale
    blue-grey of a plate's backdrop or a shadow is not."""
    r, g, b = (float(v) for v in rgb)
    return b > 60 and b > g + 15 and g >= r - 10 and (b - min(r, g)) >= 0.45 * b


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
