"""The lexicon of text patterns with geographic signal (street words, currencies, postal codes,
domains, common words), loaded from `data/lexicon.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Lexicon:
    street_words: dict[str, tuple[str, ...]]
    street_suffixes: tuple[str, ...]  # street words that also end compounds (Hauptstrasse, Damstraat)
    street_abbreviations: frozenset[str]  # count only with their period (ul., st.)
    currencies: dict[str, tuple[str, ...]]
    postal_codes: tuple[tuple[re.Pattern, tuple[str, ...]], ...]
    generic_cctlds: frozenset[str]
    regional_tlds: dict[str, tuple[str, ...]]
    common_words: frozenset[str]


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    import yaml

    data = yaml.safe_load((resources.files("geosleuth.gazetteer") / "data" / "lexicon.yaml").read_text("utf-8"))
    return Lexicon(
        street_words={str(k): tuple(v) for k, v in data["street_words"].items()},
        street_suffixes=tuple(data["street_suffixes"]),
        street_abbreviations=frozenset(data["street_abbreviations"]),
        currencies={str(k): tuple(v) for k, v in data["currencies"].items()},
        postal_codes=tuple((re.compile(p["regex"]), tuple(p["countries"])) for p in data["postal_codes"]),
        generic_cctlds=frozenset(data["domains"]["generic_cctlds"]),
        regional_tlds={k: tuple(v) for k, v in data["domains"]["regional"].items()},
        common_words=frozenset(str(w) for w in data["common_words"]),
    )
