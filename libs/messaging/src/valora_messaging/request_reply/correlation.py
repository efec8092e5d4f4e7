"""Correlation id -> the future of its reply, for one process."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["CorrelationMap"]

T = TypeVar("T")


class CorrelationMap(Generic[T]):
    """Futures of the replies this process waits for, by correlation id.

    A future is forgotten as soon as it is done (resolved, failed, cancelled or timed out), so
    a late reply finds nobody and is dropped by the caller.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, correlation_id: object) -> bool:
        return correlation_id in self._waiting

    def expect(self, correlation_id: str) -> asyncio.Future[T]:
        """A new future for the reply to ``correlation_id``."""
        if correlation_id in self._waiting:
            raise ValueError(f"correlation id {correlation_id!r} is already awaited")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        future.add_done_callback(lambda _: self._forget(correlation_id, future))
        return future

    def resolve(self, correlation_id: str, value: T) -> bool:
        """Hand ``value`` to the waiter; False if nobody waits for ``correlation_id``."""
        future = self._waiting.get(correlation_id)
        if future is None or future.done():
            return False
        future.set_result(value)
        return True

    def fail(self, correlation_id: str, error: BaseException) -> bool:
        """Fail the waiter with ``error``; False if nobody waits for ``correlation_id``."""
        future = self._waiting.get(correlation_id)
        if future is None or future.done():
            return False
        future.set_exception(error)
        return True

    def _forget(self, correlation_id: str, future: asyncio.Future[T]) -> None:
        if self._waiting.get(correlation_id) is future:
            del self._waiting[correlation_id]
