"""Deferred offset commits: processed offsets are committed in the background, coalesced.

FastStream's commit-after-processing (``AckPolicy.NACK_ON_ERROR``) sends one OffsetCommit
request per handled batch and waits for it before the next poll: a broker round trip, and CPU on
the consumer and on the broker, for every batch. Where batches are small and frequent (the
predictor's prediction requests), :class:`DeferredCommits` records each successfully handled
batch's offsets and commits them at most every ``interval_s``, with explicit offsets, so only
processed records are ever committed. Delivery stays at-least-once: after a crash (or when a
rebalance moves a partition before its offsets were flushed) up to ``interval_s`` of processed
records are delivered again, which idempotent handlers absorb. A failed batch is untouched:
FastStream nacks it (seek back) as before. Batches of an exactly-once consumer are never recorded:
their offsets move only with their transactions, and the consumer marks each such message
committed whatever became of it (a plain commit of an abandoned batch would move the group's
offset back behind committed transactions).

On shutdown call :meth:`close` before the broker stops: pending offsets are flushed, and batches
that finish afterwards are committed synchronously by FastStream again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from faststream import BaseMiddleware
from faststream.message import AckStatus

__all__ = ["CommittingConsumer", "DeferredCommits"]

logger = logging.getLogger(__name__)


class CommittingConsumer(Protocol):
    """What :class:`DeferredCommits` needs of a consumer (``AIOKafkaConsumer`` has it)."""

    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None: ...


class DeferredCommits:
    """Processed offsets per consumer, committed by a background task."""

    def __init__(self, *, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = interval_s
        self.closing = False
        self._pending: dict[CommittingConsumer, dict[TopicPartition, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def middleware(self, msg: Any, /, **kwargs: Any) -> BaseMiddleware:
        """The FastStream broker middleware (``create_broker(middlewares=[x.middleware])``)."""
        return _DeferCommit(msg, commits=self, **kwargs)

    def processed(self, consumer: CommittingConsumer, records: Iterable[Any]) -> None:
        """Remember the offsets after ``records`` (handled successfully) for the next flush."""
        offsets = self._pending.setdefault(consumer, {})
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if r.offset + 1 > offsets.get(tp, -1):
                offsets[tp] = r.offset + 1

    async def start(self) -> None:
        self.closing = False
        self._wake.clear()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="valora-deferred-commits")

    async def close(self) -> None:
        """Stop deferring: flush what is pending; later batches commit synchronously. The
        flusher is woken, not cancelled, so a commit in flight is never cut off."""
        self.closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Commit every pending offset (of partitions still assigned to its consumer)."""
        pending, self._pending = self._pending, {}
        for consumer, offsets in pending.items():
            assigned = consumer.assignment()
            owned = {tp: OffsetAndMetadata(o, "") for tp, o in offsets.items() if tp in assigned}
            if not owned:
                continue
            try:
                await consumer.commit(owned)
            except (CommitFailedError, IllegalStateError) as exc:
                # Rebalanced: the partitions' new owner starts at the last commit (redelivery).
                logger.warning("deferred commit dropped", extra={"error": repr(exc)})
            except KafkaError as exc:
                logger.warning("deferred commit failed, retried", extra={"error": repr(exc)})
                mine = self._pending.setdefault(consumer, {})
                for tp, o in offsets.items():
                    mine[tp] = max(o, mine.get(tp, -1))

    async def _run(self) -> None:
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            if self._pending:
                try:
                    await self.flush()
                except Exception:  # never let the flusher die: the next round tries again
                    logger.exception("deferred commit round failed")


class _DeferCommit(BaseMiddleware):
    """After a successful handler call: record the offsets and mark the message committed, so
    FastStream's acknowledgement skips its synchronous commit (unless closing)."""

    def __init__(self, msg: Any, /, *, commits: DeferredCommits, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self._commits = commits

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        result = await call_next(msg)
        consumer: Any = getattr(msg, "consumer", None)
        # Only commit-after-processing messages (ACK_FIRST ones arrive already committed) of a
        # real consumer (FastStream's test broker has a stand-in without an assignment).
        if msg.committed is None and hasattr(consumer, "assignment"):
            raw = msg.raw_message
            self._commits.processed(consumer, raw if isinstance(raw, tuple | list) else (raw,))
            if not self._commits.closing:
                msg.committed = AckStatus.ACKED
        return result
