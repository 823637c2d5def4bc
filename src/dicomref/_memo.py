"""A bounded memo: values computed once per key, for values a series of files repeats.

The slices of a series repeat most of what the scan decodes (study, series, frame of
reference, patient, orientation …), so each is decoded once; values met once (a SOP
Instance UID, a position) must not pile up, so the memo is emptied when it is full.
A ``dict`` whose ``__missing__`` computes: a hit is one dictionary look-up, in C.
Safe to share between threads (a race computes a value twice).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Keys a memo holds before it is emptied.
SIZE = 4096


class Memo(dict[K, V]):
    """``memo[key]``: ``compute(key)``, computed once while the memo holds it."""

    def __init__(self, compute: Callable[[K], V], size: int = SIZE) -> None:
        super().__init__()
        self._compute = compute
        self._size = size

    def __missing__(self, key: K) -> V:
        value = self._compute(key)
        if len(self) >= self._size:
            self.clear()
        self[key] = value
        return value
