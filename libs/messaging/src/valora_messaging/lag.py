"""Consumer lag per group, topic and partition: end offset minus the group's committed offset.

:class:`ConsumerLag` looks at the consumers of a service's subscribers every ``interval_s`` and
sets ``valora_consumer_lag`` for each partition they are assigned. The end offset is the last
stable offset for ``read_committed`` readers (the high watermark otherwise), as of the
consumer's last fetch; the committed offset is asked of the group coordinator (it moves in
transactions the consumer does not see). Partitions that moved to another replica stop being
reported here (their new owner reports them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from valora_messaging.metrics import ConsumerMetrics

__all__ = ["ConsumerLag"]

logger = logging.getLogger(__name__)


class ConsumerLag:
    """Background sampler of the lag of some FastStream subscribers."""

    def __init__(
        self, *, metrics: ConsumerMetrics, subscribers: Iterable[Any], interval_s: float = 10.0
    ) -> None:
        self._metrics = metrics
        self._subscribers = list(subscribers)
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self._reported: set[tuple[str, str, str]] = set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="valora-consumer-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sample(self) -> dict[tuple[str, str, int], int]:
        """Measure once; returns ``{(group, topic, partition): lag}`` (also set as gauges)."""
        seen: dict[tuple[str, str, int], int] = {}
        for subscriber in self._subscribers:
            group = getattr(subscriber, "group_id", None)
            for consumer in _consumers(subscriber):
                if group is None:
                    continue
                for tp in sorted(consumer.assignment()):
                    end = _end_offset(consumer, tp)
                    if end is None:
                        continue
                    committed = await consumer.committed(tp)
                    seen[(group, tp.topic, tp.partition)] = max(0, end - (committed or 0))
        reported = set()
        for (group, topic, partition), lag in seen.items():
            labels = (group, topic, str(partition))
            self._metrics.lag.labels(self._metrics.service, *labels).set(lag)
            reported.add(labels)
        for labels in self._reported - reported:
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(self._metrics.service, *labels)
        self._reported = reported
        return seen

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sample()
            except Exception as exc:  # a failed sample is skipped, the next one tries again
                logger.warning("consumer lag sample failed", extra={"error": repr(exc)[:300]})


def _consumers(subscriber: Any) -> list[Any]:
    group = getattr(subscriber, "consumer_subgroup", None)
    if group:
        return list(group)
    consumer = getattr(subscriber, "consumer", None)
    return [consumer] if consumer is not None and hasattr(consumer, "assignment") else []


def _end_offset(consumer: Any, tp: Any) -> int | None:
    stable = consumer.last_stable_offset(tp)  # every Valora consumer reads committed data
    end = stable if stable is not None else consumer.highwater(tp)
    return int(end) if end is not None else None
