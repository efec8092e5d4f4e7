"""Authenticated Kafka on the real broker: a dev-stack broker with a SCRAM-SHA-512 listener
(credentials written at ``kafka-storage format`` time) refuses a client without credentials
and one with a wrong password, and a service started with its credentials works end to end
(the ingestion service: consumer group, per-partition transactions, topic admin).

The broker runs on free ports of its own with its own state directory, beside any other stack.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from valora_contracts import LISTINGS_INGESTED, LISTINGS_RAW
from valora_devstack import DevstackSettings, down, up
from valora_devstack.kafka import run_async
from valora_messaging import KafkaSettings, kafka_security

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

USER = "valora-it"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_service_offset(service_port: int = 8101) -> int:
    """A ``service_port_offset`` whose service port is free now: drawn from 20000-39999 (below
    the kernel's ephemeral range, so no client socket takes it) rather than from a kernel-chosen
    port, which may sit near 61000 and make an offset above the settings' bound of 50000."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 40_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port - service_port
    raise RuntimeError("no free port in 20000-39999 after 200 tries")


@pytest.fixture(scope="module")
def scram_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevstackSettings]:
    password = f"scram-it-{secrets.token_hex(8)}"
    settings = DevstackSettings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=Path(tmp_path_factory.mktemp("scram")),
        kafka_bootstrap_servers=f"127.0.0.1:{_free_port()}",
        kafka_controller_port=_free_port(),
        manage_kafka=True,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username=USER,
        kafka_sasl_password=password,
        service_port_offset=_free_service_offset(),
    )
    started = up(settings, only=["kafka"]).started
    try:
        # The group starts at the topic's end (as the e2e harness does): a record fetched while
        # a brand-new group's partitions are still being claimed is not what this test is about.
        run_async(lambda: _commit_group_at_end(_client(settings, **_credentials(settings))))
        started += up(settings, only=["ingestion"]).started
        yield settings
    finally:
        down(settings, only=started)


def _credentials(settings: DevstackSettings) -> dict[str, object]:
    return {
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_username": USER,
        "kafka_sasl_password": settings.kafka_sasl_password,
    }


async def _commit_group_at_end(client: KafkaSettings) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=client.kafka_bootstrap_servers,
        group_id="valora-ingestion",
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(client),
    )
    await consumer.start()
    try:
        parts = [TopicPartition(LISTINGS_RAW.name, p) for p in range(LISTINGS_RAW.partitions)]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in ends.items()})
    finally:
        await consumer.stop()


def _client(settings: DevstackSettings, **security: object) -> KafkaSettings:
    return KafkaSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        **security,  # type: ignore[arg-type]
    )


async def _produce(client: KafkaSettings, topic: str, value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=client.kafka_bootstrap_servers,
        request_timeout_ms=5_000,
        acks="all",
        **kafka_security(client),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_a_producer_without_credentials_is_refused(scram_stack: DevstackSettings) -> None:
    anonymous = _client(scram_stack, kafka_security_protocol="PLAINTEXT")
    with pytest.raises(KafkaError):
        run_async(lambda: _produce(anonymous, LISTINGS_RAW.name, b"{}", b"k"))


def test_a_producer_with_a_wrong_password_is_refused(scram_stack: DevstackSettings) -> None:
    impostor = _client(
        scram_stack,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username=USER,
        kafka_sasl_password="not-the-password",
    )
    with pytest.raises(KafkaError):
        run_async(lambda: _produce(impostor, LISTINGS_RAW.name, b"{}", b"k"))


def test_the_ingestion_service_works_with_its_credentials(scram_stack: DevstackSettings) -> None:
    client = _client(scram_stack, **_credentials(scram_stack))
    listing_id = f"scram-{secrets.token_hex(6)}"
    raw = {
        "listing_id": listing_id,
        "area": 80,
        "quartos": 2,
        "banheiros": 1,
        "idade": 12,
        "garagem": 1,
        "bairro": "Centro",
    }

    async def roundtrip() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            LISTINGS_INGESTED.name,
            bootstrap_servers=client.kafka_bootstrap_servers,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **kafka_security(client),
        )
        await consumer.start()
        try:
            await _produce(client, LISTINGS_RAW.name, orjson.dumps(raw), listing_id.encode())
            seen: list[bytes] = []
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                batches = await consumer.getmany(timeout_ms=1000)
                seen += [r.value for records in batches.values() for r in records if r.value]
                if any(listing_id.encode() in value for value in seen):
                    return seen
            return seen
        finally:
            await consumer.stop()

    seen = run_async(roundtrip)
    ingested = [orjson.loads(v) for v in seen if listing_id.encode() in v]
    assert len(ingested) == 1
    assert ingested[0]["listing_id"] == listing_id
    assert ingested[0]["features"]["neighbourhood"] == "Centro"
