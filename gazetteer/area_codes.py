"""Phone area codes -> the English name of their area, from libphonenumber's geocoding data as the
`phonenumbers` package carries it. Its geocoder holds every prefix in every language it has, a
large import; this table keeps the English names only, a small part of that. It is built from
that data once and cached on disk, like the gazetteer index.

>>> import phonenumbers
>>> area_name(phonenumbers.parse("+74956291122"))
'Moscow'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cache import cached_arrays, shared
from geosleuth.gazetteer.countries import countries

if TYPE_CHECKING:
    import phonenumbers


def area_name(number: "phonenumbers.PhoneNumber") -> str:
    """What `phonenumbers.geocoder.description_for_number(number, "en")` says: the area of a
    geographic number, else the name (in our country table) of the one country where it is valid;
    '' for a number of no known type or country."""
    import phonenumbers

    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return ""
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        national = phonenumbers.national_significant_number(number)
        token = phonenumbers.country_mobile_token(number.country_code)
        if token and national.startswith(token):  # Argentina's and Mexico's mobile prefixes
            national = national[len(token):]
        area = AreaCodes.default().longest(f"{number.country_code}{national}")
        if area:
            return area
    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    valid = regions if len(regions) == 1 else [r for r in regions if phonenumbers.is_valid_number_for_region(number, r)]
    return countries().get(valid[0], {}).get("name", "") if len(valid) == 1 else ""  # one country, or none


class AreaCodes:
    """Digit prefixes (country code first) and their names: per prefix length, the prefixes sorted
    as integers and the index of each one's name."""

    def __init__(self, names: list[str], prefixes: dict[int, np.ndarray], name_ids: dict[int, np.ndarray]) -> None:
        self.names, self.prefixes, self.name_ids = names, prefixes, name_ids

    @classmethod
    def default(cls) -> "AreaCodes":
        """The shared table (built once per process)."""
        return shared("area codes", cls.load)

    @classmethod
    def load(cls) -> "AreaCodes":
        """The table of the installed phonenumbers, from the disk cache, else built and cached."""
        import phonenumbers

        return cls.from_arrays(cached_arrays(f"area-codes-phonenumbers-{phonenumbers.__version__}.npz",
                                             lambda: cls.build().to_arrays()))

    @classmethod
    def build(cls) -> "AreaCodes":
        from phonenumbers.geodata import GEOCODE_DATA

        english = {prefix: names["en"] for prefix, names in GEOCODE_DATA.items() if "en" in names}
        names = sorted(set(english.values()))
        number = {name: i for i, name in enumerate(names)}
        prefixes, name_ids = {}, {}
        for length in sorted({len(p) for p in english}):
            same = sorted((int(p), number[n]) for p, n in english.items() if len(p) == length)
            prefixes[length] = np.array([p for p, _ in same], np.int64)
            name_ids[length] = np.array([n for _, n in same], np.int32)
        return cls(names, prefixes, name_ids)

    def longest(self, digits: str) -> str:
        """The name of the longest prefix of `digits` in the table, else ''."""
        for length in sorted(self.prefixes, reverse=True):
            if length <= len(digits):
                keys, key = self.prefixes[length], int(digits[:length])
                at = int(np.searchsorted(keys, key))
                if at < len(keys) and keys[at] == key:
                    return self.names[self.name_ids[length][at]]
        return ""

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"names": np.array(self.names)}
        for length in self.prefixes:
            arrays[f"prefixes{length}"], arrays[f"names{length}"] = self.prefixes[length], self.name_ids[length]
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "AreaCodes":
        lengths = [int(k.removeprefix("prefixes")) for k in arrays if k.startswith("prefixes")]
        return cls(arrays["names"].tolist(), {n: arrays[f"prefixes{n}"] for n in lengths},
                   {n: arrays[f"names{n}"] for n in lengths})
