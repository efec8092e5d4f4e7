"""Tumbling windows by count and by event time (pure, no clock: time comes from the events).

A window closes when it holds ``size`` events, or when an event arrives whose time is at least
``seconds`` after the window's first event *and* the window already holds ``min_size`` events
(that event then opens the next window). A window too small to judge keeps growing instead of
being judged on a handful of events. Event time, not wall-clock time, so a replay or a backlog
forms the same windows as live traffic.

:class:`StreamWindows` holds the open windows of one input stream (one per key: a model
version, or one for all listings) and counts each event id once (:mod:`.dedupe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from valora_drift_monitor.domain.dedupe import RecentEventIds

__all__ = ["ClosedWindow", "StreamWindows", "TumblingWindow", "WindowPolicy"]

T = TypeVar("T")
E = TypeVar("E")


@dataclass(frozen=True)
class WindowPolicy:
    size: int
    seconds: float
    min_size: int

    def __post_init__(self) -> None:
        if self.size < 2 or self.min_size < 1 or self.seconds <= 0:
            raise ValueError("need size >= 2, min_size >= 1 and seconds > 0")
        if self.min_size > self.size:
            raise ValueError("min_size must not exceed size")


@dataclass(frozen=True)
class ClosedWindow(Generic[T]):
    start: datetime
    end: datetime
    rows: list[T]

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclass
class TumblingWindow(Generic[T]):
    """The open window of one stream (one per kind and model version)."""

    policy: WindowPolicy
    rows: list[T] = field(default_factory=list)
    opened_at: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, event_time: datetime, row: T) -> ClosedWindow[T] | None:
        """Add one event; returns the window it closed, if any."""
        closed: ClosedWindow[T] | None = None
        if (
            self.opened_at is not None
            and len(self.rows) >= self.policy.min_size
            and (event_time - self.opened_at).total_seconds() >= self.policy.seconds
        ):
            closed = self._close()
        self._append(event_time, row)
        if closed is None and len(self.rows) >= self.policy.size:
            closed = self._close()
        return closed

    def _append(self, event_time: datetime, row: T) -> None:
        if self.opened_at is None:
            self.opened_at = event_time
        self.start = event_time if self.start is None else min(self.start, event_time)
        self.end = event_time if self.end is None else max(self.end, event_time)
        self.rows.append(row)

    def _close(self) -> ClosedWindow[T]:
        assert self.start is not None
        assert self.end is not None
        closed = ClosedWindow(start=self.start, end=self.end, rows=self.rows)
        self.rows = []
        self.opened_at = self.start = self.end = None
        return closed


class StreamWindows(Generic[T]):
    """The open windows of one input stream, one per key; each event id is counted once.

    The ids of at least the last ``max(remember, policy.size)`` counted events are remembered,
    so an event is never counted twice in one window, nor in two windows while its id is
    remembered. Call :meth:`unseen` before anything that must not see a repeat, then
    :meth:`add` for each of its results.
    """

    def __init__(self, policy: WindowPolicy, *, remember: int) -> None:
        self.policy = policy
        self.counted = RecentEventIds(max(remember, policy.size))
        self.open: dict[str, TumblingWindow[T]] = {}

    def unseen(self, events: Iterable[E], event_id: Callable[[E], str]) -> list[E]:
        """``events`` not counted yet, each event id once (the first of repeats)."""
        return self.counted.unseen(events, event_id)

    def add(
        self, event_id: str, event_time: datetime, row: T, *, key: str = ""
    ) -> ClosedWindow[T] | None:
        """Count one event in the window of ``key``; returns the window it closed, if any.
        An event id counted already is ignored."""
        if event_id in self.counted:
            return None
        self.counted.add(event_id)
        window = self.open.get(key)
        if window is None:
            window = self.open[key] = TumblingWindow(self.policy)
        return window.add(event_time, row)
