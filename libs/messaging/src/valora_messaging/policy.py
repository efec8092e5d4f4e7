"""The one error policy of every Valora consumer: no record can stall its partition.

A consumer hands each batch to :meth:`ErrorPolicy.run` with the function that processes it and
the sink its dead letters go to. What happens on an error depends only on its class
(:func:`~valora_messaging.errors.classify`):

* **transient** (broker or database unreachable, timeouts, leader moves): the batch is retried
  with capped exponential backoff and jitter; the partition waits, the rest of the service keeps
  serving. After ``transient_hold_s`` the error is raised, so the consumer seeks back and the
  batch is redelivered (well within Kafka's ``max.poll.interval.ms``).
* **permanent** (cannot decode, breaks the contract or a column, too large): never retried. A
  batch is split in halves until the failing record is alone; the good records are processed
  and the bad one is dead-lettered at once, with its reason.
* **unknown** (anything else): the batch is retried ``unknown_attempts`` times with backoff
  (about a minute by default), then split like a permanent one; a record that still fails alone
  is dead-lettered with the attempts it took.
* **fenced** (a newer owner took over our transactional id): ``on_fatal`` ends the process.
* **not owner / shutting down**: raised as is, the batch is left for redelivery.

Halves are processed left before right, so a partition's records keep their order and an
offset is committed only after everything before it was processed or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from valora_contracts import TopicSpec

from valora_messaging.batch import InRecord, commit_offsets
from valora_messaging.dlq import FailedRecord
from valora_messaging.errors import (
    Classifier,
    ErrorClass,
    FencedError,
    ShuttingDownError,
    classify,
)
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.retry import RetrySettings
from valora_messaging.sink import BatchSink

__all__ = ["ErrorPolicy", "Process", "RetrySettings"]

logger = logging.getLogger(__name__)

Process = Callable[[Sequence[InRecord]], Awaitable[object]]
"""Handles a batch completely (outputs, its own dead letters and, for transactions, offsets)."""


@dataclass
class _Try:
    """One batch under the policy: where it came from and how it goes."""

    source: TopicSpec
    process: Process
    sink: BatchSink
    attempts_before: int = 0
    retry_unknown: bool = True


class ErrorPolicy:
    """One per service, shared by all its consumers."""

    def __init__(
        self,
        *,
        service: str,
        retry: RetrySettings,
        metrics: ConsumerMetrics | None = None,
        classifiers: Sequence[Classifier] = (),
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self._service = service
        self._retry = retry
        self._metrics = metrics
        self._classifiers = tuple(classifiers)
        self._on_fatal = on_fatal
        self._closing = asyncio.Event()

    @property
    def service(self) -> str:
        return self._service

    def on_fatal(self, reason: str) -> None:
        """End the process (a zombie must not keep its partitions)."""
        logger.critical("fatal consumer error", extra={"reason": reason[:500]})
        if self._on_fatal is not None:
            self._on_fatal(reason)

    def close(self) -> None:
        """Stop waiting: records in backoff are left for redelivery (:class:`ShuttingDownError`)."""
        self._closing.set()

    def classify(self, error: BaseException) -> ErrorClass:
        return classify(error, extra=self._classifiers)

    async def run(
        self,
        records: Sequence[InRecord],
        *,
        process: Process,
        source: TopicSpec,
        sink: BatchSink,
    ) -> None:
        """Process ``records`` under the policy. Returns when every record was processed or
        dead-lettered; raises when they must be redelivered (transient past the hold, shutdown,
        revoked partition) or the process must end (fenced)."""
        if records:
            await self._run(list(records), _Try(source=source, process=process, sink=sink))

    async def _run(self, records: list[InRecord], attempt: _Try) -> None:
        tries = 0
        transient_since: float | None = None
        while True:
            tries += 1
            try:
                await attempt.process(records)
                return
            except Exception as error:
                kind = self.classify(error)
                if kind is ErrorClass.FENCED:
                    self._fatal(error, attempt.source)
                    raise FencedError(f"fenced while handling {attempt.source.name}") from error
                if kind in (ErrorClass.NOT_OWNER, ErrorClass.SHUTDOWN):
                    raise
                if kind is ErrorClass.TRANSIENT:
                    now = time.monotonic()
                    transient_since = transient_since or now
                    if now - transient_since >= self._retry.transient_hold_s:
                        raise
                    tries -= 1  # waiting out an outage is not an attempt at the record
                    await self._back_off(error, kind, attempt, n=len(records), step=tries + 1)
                    continue
                retry_unknown = attempt.retry_unknown and tries < self._retry.unknown_attempts
                if kind is ErrorClass.UNKNOWN and retry_unknown:
                    await self._back_off(error, kind, attempt, n=len(records), step=tries)
                    continue
                await self._isolate(records, attempt, error=error, kind=kind, tries=tries)
                return

    async def _isolate(
        self,
        records: list[InRecord],
        attempt: _Try,
        *,
        error: Exception,
        kind: ErrorClass,
        tries: int,
    ) -> None:
        """Split a failing batch until the failing record is alone, then dead-letter it."""
        used = attempt.attempts_before + tries
        if len(records) > 1:
            middle = len(records) // 2
            for half in (records[:middle], records[middle:]):
                sub = _Try(
                    source=attempt.source,
                    process=attempt.process,
                    sink=attempt.sink,
                    attempts_before=used,
                    retry_unknown=False,
                )
                await self._run(half, sub)
            return
        await self._dead_letter(records[0], attempt, error=error, kind=kind, attempts=used)

    async def _dead_letter(
        self,
        record: InRecord,
        attempt: _Try,
        *,
        error: Exception,
        kind: ErrorClass,
        attempts: int,
    ) -> None:
        failed = FailedRecord(
            value=record.value,
            key=record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
            error_class="unknown" if kind is ErrorClass.UNKNOWN else "permanent",
            attempts=max(1, attempts),
        )

        async def write(_: Sequence[InRecord]) -> None:
            await attempt.sink.write(outputs=(), failed=(failed,), offsets=commit_offsets([record]))

        # A dead letter is small and always fits: only outages (retried) can stop it.
        letter = _Try(source=attempt.source, process=write, sink=attempt.sink, retry_unknown=False)
        tries = 0
        transient_since: float | None = None
        while True:
            tries += 1
            try:
                await write([record])
                return
            except Exception as write_error:
                write_kind = self.classify(write_error)
                if write_kind is ErrorClass.FENCED:
                    self._fatal(write_error, attempt.source)
                    raise FencedError("fenced while dead-lettering") from write_error
                now = time.monotonic()
                transient_since = transient_since or now
                if write_kind in (ErrorClass.NOT_OWNER, ErrorClass.SHUTDOWN) or (
                    now - transient_since >= self._retry.transient_hold_s
                ):
                    raise
                await self._back_off(write_error, ErrorClass.TRANSIENT, letter, n=1, step=tries)

    async def _back_off(
        self, error: BaseException, kind: ErrorClass, attempt: _Try, *, n: int, step: int
    ) -> None:
        delay = self._retry.backoff(kind, step)
        if self._metrics is not None:
            self._metrics.retried(topic=attempt.source.name, error_class=kind.value)
        logger.warning(
            "record retry scheduled",
            extra={
                "topic": attempt.source.name,
                "error_class": kind.value,
                "error_type": type(error).__name__,
                "error": str(error)[:300],
                "records": n,
                "attempt": step,
                "delay_s": round(delay, 3),
            },
        )
        await self._pause(delay)

    async def _pause(self, delay: float) -> None:
        if self._closing.is_set():
            raise ShuttingDownError("consumer is stopping")
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            return
        raise ShuttingDownError("consumer is stopping")

    def _fatal(self, error: BaseException, source: TopicSpec) -> None:
        reason = f"transactional producer fenced on {source.name}: {error!r}"[:500]
        logger.critical("fenced: this replica is a zombie and stops", extra={"error": reason})
        if self._on_fatal is not None:
            self._on_fatal(reason)
