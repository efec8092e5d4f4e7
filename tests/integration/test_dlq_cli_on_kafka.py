"""``valora dlq inspect`` and ``valora dlq replay`` on a real broker: dead letters are shown with
their reason, complete ones go back to their source topic, truncated ones are refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner
from valora_cli.main import app
from valora_contracts import SALES_OBSERVED, dlq_for
from valora_messaging import FailedRecord, ensure_topics, kafka_security, lane_producer
from valora_messaging.dlq import dead_letter_record
from valora_messaging.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        **kafka_security(KafkaSettings(kafka_bootstrap_servers=bootstrap)),
    )
    await consumer.start()
    try:
        # every partition (a replayed letter goes wherever its key hashes to)
        parts = [TopicPartition(topic, p) for p in range(SALES_OBSERVED.partitions)]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def _read_from(bootstrap: str, topic: str, start: dict[TopicPartition, int]) -> list[Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        **kafka_security(KafkaSettings(kafka_bootstrap_servers=bootstrap)),
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        records: list[Any] = []
        async with asyncio.timeout(30):
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if not batch and records:
                    return records
                for part in batch.values():
                    records.extend(part)
    finally:
        await consumer.stop()


async def test_inspect_shows_reasons_and_replay_refuses_truncated_letters(devstack: Any) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap)
    await ensure_topics(settings=settings, topics=[SALES_OBSERVED, dlq_for(SALES_OBSERVED)])
    marker = uuid.uuid4().hex
    small = f'{{"listing_id": "{marker}", "sale_price": "oops"}}'.encode()
    huge = marker.encode() + b"x" * 200_000
    letters = [
        dead_letter_record(
            record=FailedRecord(value, marker.encode(), SALES_OBSERVED.name, 0, i, ValueError(why)),
            source=SALES_OBSERVED,
            service="trainer",
        )
        for i, (value, why) in enumerate([(small, "sale_price: not a number"), (huge, "too big")])
    ]
    source_end = await _end_offsets(bootstrap, SALES_OBSERVED.name)
    producer = lane_producer(settings=settings, client_id="dlq-test")
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(letter.topic, letter.value, key=letter.key)
    finally:
        await producer.stop()

    runner = CliRunner()
    env = {"VALORA_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    inspected = await asyncio.to_thread(  # the CLI runs its own event loop
        runner.invoke, app, ["dlq", "inspect", SALES_OBSERVED.name, "--since", "10m"], env=env
    )
    assert inspected.exit_code == 0, inspected.output
    assert "sale_price: not a number" in inspected.output
    assert "(truncated)" in inspected.output

    replayed = await asyncio.to_thread(
        runner.invoke, app, ["dlq", "replay", SALES_OBSERVED.name, "--since", "10m"], env=env
    )
    assert replayed.exit_code == 1, replayed.output  # a refusal is not a success
    assert "cannot be replayed" in replayed.output
    back = await _read_from(bootstrap, SALES_OBSERVED.name, source_end)
    ours = [r for r in back if marker.encode() in (r.value or b"")]
    assert [r.value for r in ours] == [small]  # the complete one, once; never the truncated one
    assert dict(ours[0].headers)["valora-replayed-from"].startswith(b"sales.observed.dlq.v1:")
