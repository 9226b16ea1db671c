"""Freed memory handed back to the operating system after each photo.

glibc keeps the heap that a photo's passing arrays used (the text-line detector's activations,
a large file's decoded pixels) and reuses it only in part, so without this each
photo's peak would sit on top of the last one's leftovers (benchmarks/bench_memory.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache
from typing import Any, Callable


def release_memory() -> None:
    """Return the C heap's free pages to the OS (glibc's `malloc_trim`; a few ms); elsewhere nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # a C library without it (musl)
        return None
