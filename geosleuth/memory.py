"""Freed memory handed back to the operating system, so that each photo's peak does not sit on
top of the last one's leftovers (benchmarks/bench_memory.py).

- `return_large_blocks`: blocks of 1 MiB and more are mapped on their own and unmapped when freed.
  glibc's default threshold rises to 32 MiB after the first large block is freed, after which the
  text-line detector's activations and a large file's decoded pixels come from the heap, are kept
  when freed, and fragment it (measured: 35 MB higher peaks).
- `release_memory`: what the heap still holds free, returned after each photo.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
LARGE_BLOCK = 1 << 20


def return_large_blocks() -> None:
    """Map blocks of LARGE_BLOCK bytes and more on their own, for the rest of the process (glibc's
    `mallopt`; once per process; elsewhere nothing)."""
    _mapped_large_blocks()


def release_memory() -> None:
    """Return the C heap's free pages to the OS (glibc's `malloc_trim`; a few ms); elsewhere nothing."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@lru_cache(maxsize=1)
def _mapped_large_blocks() -> bool:
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))


@lru_cache(maxsize=1)
def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both, or neither (musl has no malloc_trim)
        return libc
    except (OSError, AttributeError):
        return None
