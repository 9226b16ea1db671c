"""Vectorised S2 cell-id arithmetic (numpy), bit-exact with s2sphere.

s2sphere works one point at a time; the grid needs ids for 10^5 points at once, so the
lat/lng -> leaf id conversion (quadratic projection + Hilbert curve) is done here with arrays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from geosleuth.geo import to_xyz

MAX_LEVEL = 30
_LOOKUP_BITS = 4


@lru_cache(maxsize=1)
def _lookup_pos() -> np.ndarray:
    """The (i, j, orientation) -> (Hilbert position, orientation) table for 4-bit blocks."""
    pos_to_ij = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
    pos_to_orientation = (1, 0, 0, 3)
    table = np.zeros(1 << (2 * _LOOKUP_BITS + 2), dtype=np.uint64)

    def fill(level: int, i: int, j: int, orig: int, pos: int, orientation: int) -> None:
        if level == _LOOKUP_BITS:
            table[(((i << _LOOKUP_BITS) + j) << 2) + orig] = (pos << 2) + orientation
            return
        r = pos_to_ij[orientation]
        for index in range(4):
            fill(level + 1, (i << 1) + (r[index] >> 1), (j << 1) + (r[index] & 1), orig,
                 (pos << 2) + index, orientation ^ pos_to_orientation[index])

    for orientation in range(4):
        fill(0, 0, 0, orientation, 0, orientation)
    return table


def _uv_to_st(u: np.ndarray) -> np.ndarray:
    return np.where(u >= 0, 0.5 * np.sqrt(1 + 3 * np.abs(u)), 1 - 0.5 * np.sqrt(1 + 3 * np.abs(u)))


def leaf_ids(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """Level-30 S2 cell ids (uint64) of points given in degrees."""
    p = to_xyz(np.ravel(lat), np.ravel(lon))
    a = np.abs(p)
    axis = np.where(a[:, 0] > a[:, 1], np.where(a[:, 0] > a[:, 2], 0, 2), np.where(a[:, 1] > a[:, 2], 1, 2))
    face = axis + 3 * (p[np.arange(len(p)), axis] < 0)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.select([face == 0, face == 1, face == 2, face == 3, face == 4],
                      [y / x, -x / y, -x / z, z / x, z / y], -y / z)
        v = np.select([face == 0, face == 1, face == 2, face == 3, face == 4],
                      [z / x, z / y, -y / z, y / x, -x / y], -x / z)
    size = 1 << MAX_LEVEL
    i = np.clip(np.floor(size * _uv_to_st(u)), 0, size - 1).astype(np.uint64)
    j = np.clip(np.floor(size * _uv_to_st(v)), 0, size - 1).astype(np.uint64)

    table = _lookup_pos()
    n = face.astype(np.uint64) << np.uint64(2 * MAX_LEVEL)
    bits = (face & 1).astype(np.uint64)
    mask = np.uint64((1 << _LOOKUP_BITS) - 1)
    for k in range(7, -1, -1):
        shift = np.uint64(k * _LOOKUP_BITS)
        bits = bits + (((i >> shift) & mask) << np.uint64(_LOOKUP_BITS + 2))
        bits = bits + (((j >> shift) & mask) << np.uint64(2))
        bits = table[bits]
        n |= (bits >> np.uint64(2)) << np.uint64(2 * k * _LOOKUP_BITS)
        bits &= np.uint64(3)
    return n * np.uint64(2) + np.uint64(1)


def lsb_for_level(level: ArrayLike) -> np.ndarray:
    return np.uint64(1) << (np.uint64(2) * (np.uint64(MAX_LEVEL) - np.asarray(level, dtype=np.uint64)))


def parent_ids(ids: ArrayLike, level: ArrayLike) -> np.ndarray:
    """Ancestors of cell ids at `level` (which must not be finer than the ids' own level)."""
    ids = np.asarray(ids, dtype=np.uint64)
    lsb = lsb_for_level(level)
    return (ids & (~lsb + np.uint64(1))) | lsb


def levels_of(ids: ArrayLike) -> np.ndarray:
    """S2 level of each cell id (from the position of its lowest set bit)."""
    ids = np.asarray(ids, dtype=np.uint64)
    low = ids & (~ids + np.uint64(1))
    return (MAX_LEVEL - (np.log2(low.astype(np.float64)).round().astype(np.int64) // 2)).astype(np.int8)


def range_min(ids: ArrayLike) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.uint64)
    low = ids & (~ids + np.uint64(1))
    return ids - (low - np.uint64(1))


def range_max(ids: ArrayLike) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.uint64)
    low = ids & (~ids + np.uint64(1))
    return ids + (low - np.uint64(1))


def children_ids(cell_id: int) -> list[int]:
    """The four children of one cell id, in Hilbert order."""
    low = cell_id & -cell_id
    step = low >> 2
    first = cell_id - low + step
    return [first + 2 * step * k for k in range(4)]


def face_ids() -> list[int]:
    return [(f << (2 * MAX_LEVEL + 1)) + (1 << (2 * MAX_LEVEL)) for f in range(6)]


def to_token(cell_id: int) -> str:
    return f"{int(cell_id):016x}".rstrip("0") or "X"


def from_token(token: str) -> int:
    return int(token.ljust(16, "0"), 16)
