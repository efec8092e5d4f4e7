"""The recent event ids of one stream, in bounded memory: a redelivered event counts once.

A record can reach the monitor twice: a batch redelivered after a failure or a rebalance, a
record of an aborted transaction followed by its committed retry, a prediction re-published for
a redelivered listing. Their event ids are deterministic (the validator derives a validated
listing's id from the ingested event's id, which ingestion derives from the listing's content;
a prediction's event id is its stored prediction id, which a redelivered listing gets back from
the idempotent prediction store), so the monitor remembers the ids it counted.

Two generations of sets: ids go into the current one; once it holds ``capacity`` ids it becomes
the previous one and the older previous one is dropped. So the last ``capacity`` ids are always
remembered, at most ``2 * capacity`` are held, and a look-up is two set probes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["RecentEventIds"]

E = TypeVar("E")


class RecentEventIds:
    """The last ``capacity`` (at least) event ids added, at most ``2 * capacity`` held."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._current or event_id in self._previous

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def add(self, event_id: str) -> None:
        if event_id in self:
            return
        self._current.add(event_id)
        if len(self._current) >= self.capacity:
            self._previous, self._current = self._current, set()

    def unseen(self, events: Iterable[E], event_id: Callable[[E], str]) -> list[E]:
        """``events`` whose id is not remembered, each id once (the first of repeats)."""
        fresh: list[E] = []
        taken: set[str] = set()
        for event in events:
            key = event_id(event)
            if key in taken or key in self:
                continue
            taken.add(key)
            fresh.append(event)
        return fresh
