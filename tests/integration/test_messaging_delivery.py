"""Producer lanes and deferred offset commits on a real Kafka broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel
from valora_contracts import TopicSpec
from valora_messaging import (
    DeferredCommits,
    KafkaSettings,
    OutgoingRecord,
    ProducerLanes,
    consumer_options,
    create_broker,
    ensure_topics,
    kafka_security,
)

pytestmark = pytest.mark.integration


class _Any(BaseModel):
    pass


async def _topic(bootstrap: str, kind: str, partitions: int) -> TopicSpec:
    spec = TopicSpec(f"it.{kind}.{uuid.uuid4().hex[:10]}.v1", "none", partitions, _Any, "test")
    await ensure_topics(settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), topics=[spec])
    return spec


async def test_producer_lanes_deliver_concurrent_calls_exactly_once(devstack: Any) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    topic = await _topic(bootstrap, "lanes", 6)
    lanes = ProducerLanes.from_settings(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), client_id="it", size=4
    )
    await lanes.start()
    try:
        calls = [
            [OutgoingRecord(topic=topic.name, value=f"{c}-{i}".encode()) for i in range(5)]
            for c in range(400)
        ]
        await asyncio.gather(*(lanes.publish(records) for records in calls))  # all acked
    finally:
        await lanes.stop()
    consumer = AIOKafkaConsumer(
        topic.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(values) < 2000:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    assert sorted(values) == sorted(f"{c}-{i}".encode() for c in range(400) for i in range(5))


async def test_deferred_commits_commit_processed_offsets_and_redeliver_a_failed_record(
    devstack: Any,
) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    topic = await _topic(bootstrap, "commits", 2)
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap)
    group = f"it-commits-{uuid.uuid4().hex[:8]}"
    commits = DeferredCommits(interval_s=0.1)
    broker = create_broker(settings=settings, client_id="it", middlewares=[commits.middleware])
    seen: list[bytes] = []
    failed_once: set[bytes] = set()
    done = asyncio.Event()

    @broker.subscriber(topic.name, **consumer_options(settings=settings, group_id=group))  # type: ignore[untyped-decorator]
    async def handle(records: Any) -> None:
        for record in records:
            if record.value.startswith(b"poison") and record.value not in failed_once:
                failed_once.add(record.value)
                raise RuntimeError("first delivery fails")  # nacked: sought back, redelivered
            seen.append(record.value)
        if len(set(seen)) == 100:
            done.set()

    await broker.start()
    await commits.start()
    try:
        for n in range(100):
            value = f"poison-{n}" if n in (10, 60) else f"v-{n}"
            await broker.publish(value.encode(), topic.name, key=str(n % 7).encode())
        async with asyncio.timeout(60):
            await done.wait()
        await asyncio.sleep(0.5)  # a few flush intervals
        probe = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            isolation_level="read_committed",
            **kafka_security(KafkaSettings()),
        )
        await probe.start()
        try:
            tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
            ends = await probe.end_offsets(tps)
            committed = {tp: await probe.committed(tp) for tp in tps}
        finally:
            await probe.stop()
    finally:
        await commits.close()
        await broker.stop()
    assert failed_once == {b"poison-10", b"poison-60"}
    assert len(set(seen)) == 100  # every record handled, the failed ones on redelivery
    assert committed == ends  # everything processed is committed, by the background flush
