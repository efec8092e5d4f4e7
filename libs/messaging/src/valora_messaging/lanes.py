"""Several idempotent producers side by side, for latency-sensitive request-reply traffic.

An aiokafka producer keeps at most one produce request in flight per broker: records sent while
one is out wait in the accumulator for its acknowledgement (about a millisecond on a local
broker, more under load). When many independent callers publish at once (the gateway's
micro-batches, the predictor's replies from several consumers), that wait adds to every
request's latency. :class:`ProducerLanes` keeps ``size`` producers and sends each call's records
through the lane with the fewest unacknowledged sends, so independent calls do not queue
behind each other. Records of one call travel through one lane, in order; records of different
calls have no order between them, so use lanes only where none is needed (replies and
requests keyed by unique correlation ids, per-prediction events).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from valora_messaging.publishing import OutgoingRecord
from valora_messaging.security import kafka_security
from valora_messaging.settings import KafkaSettings
from valora_messaging.tracing import send_span

__all__ = ["ProducerLanes", "lane_producer"]

logger = logging.getLogger(__name__)


def lane_producer(*, settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """An idempotent ``acks=all`` producer tuned like the FastStream broker's."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-{client_id}",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_size,
        request_timeout_ms=30_000,
        retry_backoff_ms=100,
        **kafka_security(settings),
    )


class ProducerLanes:
    """``size`` producers; each :meth:`send` goes through the least busy one."""

    def __init__(self, *, factory: Callable[[int], AIOKafkaProducer], size: int) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._factory = factory
        self._size = size
        self._producers: list[AIOKafkaProducer] = []
        self._pending: list[int] = []

    @classmethod
    def from_settings(cls, *, settings: KafkaSettings, client_id: str, size: int) -> ProducerLanes:
        return cls(
            factory=lambda n: lane_producer(settings=settings, client_id=f"{client_id}-lane{n}"),
            size=size,
        )

    @property
    def started(self) -> bool:
        return bool(self._producers)

    async def start(self) -> None:
        """Create (inside the running loop) and start every producer."""
        if self._producers:
            return
        producers = [self._factory(n) for n in range(self._size)]
        try:
            for producer in producers:
                await producer.start()
        except BaseException:
            await asyncio.gather(*(p.stop() for p in producers), return_exceptions=True)
            raise
        self._producers = producers
        self._pending = [0] * len(producers)

    async def stop(self) -> None:
        """Flush and close every producer (sends in flight are delivered first)."""
        producers, self._producers = self._producers, []
        results = await asyncio.gather(*(p.stop() for p in producers), return_exceptions=True)
        for error in results:
            if isinstance(error, BaseException):
                logger.warning("producer lane did not stop cleanly", extra={"error": repr(error)})

    async def send(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        """Hand ``records`` to the least busy lane without waiting for the broker; the returned
        future completes when every one of them is acknowledged (or fails with the first
        delivery error)."""
        if not self._producers:
            raise RuntimeError("producer lanes are not started")
        lane = min(range(len(self._producers)), key=self._pending.__getitem__)
        producer = self._producers[lane]
        deliveries: list[asyncio.Future[Any]] = []
        with send_span(records[0].topic if records else "", count=len(records)) as traced:
            for record in records:
                merged = {**traced, **record.headers}
                headers = [(k, v.encode()) for k, v in merged.items()] or None
                deliveries.append(
                    await producer.send(record.topic, record.value, key=record.key, headers=headers)
                )
        self._pending[lane] += 1
        done = asyncio.ensure_future(_all_delivered(deliveries))
        done.add_done_callback(lambda _: self._release(lane))
        return done

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Send ``records`` through one lane and wait until all are durable."""
        if records:
            await (await self.send(records))

    def _release(self, lane: int) -> None:
        if lane < len(self._pending):
            self._pending[lane] -= 1


async def _all_delivered(deliveries: Sequence[asyncio.Future[Any]]) -> None:
    if deliveries:
        await asyncio.gather(*deliveries)
