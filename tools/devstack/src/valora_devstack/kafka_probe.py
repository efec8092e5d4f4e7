"""Proof that a broker works: produce one record to a health topic and read it back."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

from valora_devstack.process import DevstackError

if TYPE_CHECKING:
    from valora_messaging import KafkaSettings

__all__ = ["HEALTH_TOPIC", "produce_consume_roundtrip"]

HEALTH_TOPIC = "__valora_devstack_health"


async def produce_consume_roundtrip(settings: KafkaSettings, timeout_s: float = 15.0) -> None:
    """Produce one record to the health topic and read it back (proves the broker works)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError
    from valora_messaging import kafka_security

    bootstrap = settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **kafka_security(settings)
    )
    await admin.start()
    try:
        if HEALTH_TOPIC not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(HEALTH_TOPIC, 1, 1)])
    finally:
        await admin.close()

    payload = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        request_timeout_ms=10_000,
        **kafka_security(settings),
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(HEALTH_TOPIC, payload)
    finally:
        await producer.stop()

    tp = TopicPartition(HEALTH_TOPIC, meta.partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(settings),
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        batches = await consumer.getmany(tp, timeout_ms=int(timeout_s * 1000), max_records=1)
        records = batches.get(tp, [])
        if not records or records[0].value != payload:
            raise DevstackError("health record not read back")
    finally:
        await consumer.stop()
