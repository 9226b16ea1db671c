"""Many strings held as one UTF-8 buffer and where each starts: a string object per name costs
about 60 bytes, and names that outlive a parse pin the parser's freed memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PackedStrings(Sequence):
    """A read-only sequence of strings (sorted ones can be searched with `bisect`).

    >>> import bisect
    >>> names = PackedStrings.of(["Athína", "Lisboa", "東京"])
    >>> names[2], names[-1], len(names), bisect.bisect_left(names, "Lisboa")
    ('東京', '東京', 3, 1)
    """

    data: bytes
    starts: np.ndarray  # string i is data[starts[i]:starts[i + 1]]

    @classmethod
    def of(cls, strings: Sequence[str]) -> "PackedStrings":
        encoded = [s.encode() for s in strings]
        return cls(b"".join(encoded), np.r_[0, np.cumsum([len(e) for e in encoded], dtype=np.int64)])

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self.data[self.starts[i]:self.starts[i + 1]].decode()

    def __len__(self) -> int:
        return len(self.starts) - 1
