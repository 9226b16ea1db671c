"""One root error; each subclass also inherits the matching builtin."""

from __future__ import annotations


class GeosleuthError(Exception):
    """Root of every error geosleuth raises on purpose."""


class ConfigError(GeosleuthError, ValueError):
    """A bad configuration: unknown key, wrong type, missing file."""


class ImageError(GeosleuthError, ValueError):
    """An input that cannot be read as an image (missing, empty, corrupt, too large...)."""


class UsageError(GeosleuthError, TypeError):
    """A Python API call with an argument of the wrong kind."""


class MissingDependencyError(GeosleuthError, ImportError):
    """An optional package needed for this feature is not installed."""


class WeightsNotFoundError(GeosleuthError, FileNotFoundError):
    """Model weights were not found at the configured location."""


def did_you_mean(name: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
