"""Kafka side of the e2e harness: topic preparation, a collector of outcome topics, publishing.

Publishing behaves like a well-configured long-lived producer (idempotent, ``acks=all``): one
producer per :func:`producer_session`, whose start is retried while the broker is down, so a
stream published across a broker ``kill -9`` resumes instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata
from e2e_support import run_groups
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed
from valora_contracts import ALL_TOPICS, TopicSpec
from valora_messaging import KafkaSettings, ensure_topics, kafka_security

# How long a producer keeps trying to reach a broker that is down (a restart takes seconds).
BROKER_WAIT_S = 120.0


def topic(name: str) -> TopicSpec:
    return next(t for t in ALL_TOPICS if t.name == name)


async def prepare(bootstrap: str, run_id: str, extra_topics: Iterable[TopicSpec] = ()) -> None:
    """Create the registry's topics and commit the run's groups at the topics' current ends."""
    await ensure_topics(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap),
        topics=[*ALL_TOPICS, *extra_topics],
    )
    for group, names in run_groups(run_id).items():
        consumer = AIOKafkaConsumer(
            isolation_level="read_committed",
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            **kafka_security(KafkaSettings()),
        )
        await consumer.start()
        try:
            parts = [TopicPartition(n, p) for n in names for p in range(topic(n).partitions)]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            await consumer.commit({tp: OffsetAndMetadata(off, "") for tp, off in ends.items()})
        finally:
            await consumer.stop()


@dataclass
class TopicLog:
    """Records (decoded JSON) seen per topic since the collector started, that ``keep`` kept."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    last_at: float = 0.0

    def count(self, name: str) -> int:
        return len(self.records.get(name, []))

    def counts(self) -> Counter[str]:
        return Counter({k: len(v) for k, v in self.records.items()})


class TopicCollector:
    """Reads topics from their current ends (``read_committed``) and keeps what ``keep`` accepts."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Iterable[str],
        keep: Callable[[str, bytes], bool],
    ) -> None:
        self.names = list(topics)
        self.keep = keep
        self.log = TopicLog()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=60_000,
            **kafka_security(KafkaSettings()),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        specs = {t.name: t for t in ALL_TOPICS}
        parts = [TopicPartition(n, p) for n in self.names for p in range(specs[n].partitions)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            except Exception:  # the broker may be down (fault tests): keep trying
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for r in records:
                    if r.value is not None and self.keep(r.topic, r.value):
                        self.log.records[r.topic].append(orjson.loads(r.value))
                        self.log.last_at = time.monotonic()

    async def wait(self, predicate: Callable[[TopicLog], bool], *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.log):
                return True
            await asyncio.sleep(0.2)
        return predicate(self.log)

    async def quiet(self, seconds: float, *, timeout_s: float = 60.0) -> None:
        """Wait until nothing new arrived for ``seconds`` (late duplicates would show up)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if time.monotonic() - max(self.log.last_at, 0) >= seconds:
                return
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


@contextlib.asynccontextmanager
async def producer_session(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer (``acks=all``) that outlives a broker restart of up to two minutes."""
    producer: AIOKafkaProducer | None = None
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(BROKER_WAIT_S),
        wait=wait_fixed(1.0),
        retry=retry_if_exception_type(KafkaConnectionError),
        reraise=True,
    ):
        with attempt:
            candidate = AIOKafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                request_timeout_ms=int(BROKER_WAIT_S * 1000),
                retry_backoff_ms=250,
                max_batch_size=256 * 1024,
                **kafka_security(KafkaSettings()),
            )
            try:
                await candidate.start()
            except BaseException:
                await candidate.stop()
                raise
            producer = candidate
    assert producer is not None
    try:
        yield producer
    finally:
        await producer.stop()


async def send_all(
    producer: AIOKafkaProducer,
    topic_name: str,
    values: Iterable[bytes],
    *,
    keys: Iterable[bytes | None] | None = None,
    window: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send ``values`` (acknowledged ``window`` at a time); the number sent."""
    count = 0
    pending = []
    key_iter = iter(keys) if keys is not None else None
    for value in values:
        key = next(key_iter) if key_iter is not None else None
        pending.append(await producer.send(topic_name, value, key=key))
        count += 1
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
            if progress:
                progress(count)
    await asyncio.gather(*pending)
    if progress:
        progress(count)
    return count


async def publish(
    bootstrap: str,
    topic_name: str,
    values: Iterable[bytes],
    *,
    keys: Iterable[bytes | None] | None = None,
    window: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish ``values`` with a producer of its own (see :func:`producer_session`)."""
    async with producer_session(bootstrap) as producer:
        return await send_all(
            producer, topic_name, values, keys=keys, window=window, progress=progress
        )
