"""Places: country facts, reverse lookup (point -> nearest named place)."""

from geosleuth.gazetteer.countries import country_name
from geosleuth.gazetteer.reverse import Place, reverse_lookup

__all__ = ["Place", "country_name", "reverse_lookup"]
