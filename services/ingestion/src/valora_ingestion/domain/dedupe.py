"""A bounded LRU of recently ingested listings, to drop exact repeats."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["RecentKeys"]


class RecentKeys:
    """Keys of the last ``capacity`` distinct listings seen (process memory, bounded)."""

    def __init__(self, *, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add_all(self, keys: Iterable[bytes]) -> None:
        """Remember ``keys`` (called only once their outputs are committed)."""
        if self._capacity == 0:
            return
        store = self._keys
        for key in keys:
            if key in store:
                store.move_to_end(key)
            else:
                store[key] = None
        while len(store) > self._capacity:
            store.popitem(last=False)
