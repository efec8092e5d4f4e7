"""Messaging library on FastStream's in-memory broker: codecs, dead letters, retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from valora_contracts import LISTINGS_INGESTED, DeadLetter, IngestedListing, dlq_for
from valora_messaging import (
    InRecord,
    KafkaSettings,
    PermanentError,
    TransientError,
    batch_consumer_options,
    consumer_options,
    create_broker,
    decode_event,
    encode_event,
    publish_dead_letters,
    records_decoder,
    retry_transient,
    to_failed,
)

pytestmark = pytest.mark.unit


def _settings(**overrides: Any) -> KafkaSettings:
    return KafkaSettings(kafka_bootstrap_servers="127.0.0.1:1", **overrides)


def test_consumer_options_are_tuned_for_latency_and_commit_after_processing() -> None:
    options = consumer_options(settings=_settings(), group_id="g")
    assert options["ack_policy"].value == "nack_on_error"
    assert options["decoder"] is records_decoder
    batch = batch_consumer_options(settings=_settings(kafka_batch_max_records=123), group_id="g")
    assert batch["batch"] is True
    assert batch["max_records"] == 123
    assert batch["batch_timeout_ms"] <= 5  # an idle consumer is deaf this long per poll


def test_decode_event_raises_permanent_error_on_bad_input() -> None:
    with pytest.raises(PermanentError, match="IngestedListing"):
        decode_event(b'{"listing_id": 1}', IngestedListing)
    with pytest.raises(PermanentError):
        decode_event(b"\xff not json", IngestedListing)


async def test_dead_letter_helper_publishes_original_bytes_and_error() -> None:
    broker: KafkaBroker = create_broker(settings=_settings(), client_id="test")
    received: list[DeadLetter] = []
    done = asyncio.Event()

    @broker.subscriber(dlq_for(LISTINGS_INGESTED).name)
    async def on_dead_letter(msg: KafkaMessage) -> None:
        received.append(DeadLetter.model_validate_json(msg.body))
        done.set()

    @broker.subscriber(
        LISTINGS_INGESTED.name, **consumer_options(settings=_settings(), group_id="t")
    )
    async def consume(records: Any) -> None:
        (record,) = records  # the decoder hands over the InRecords
        assert isinstance(record, InRecord)
        try:
            decode_event(record.value, IngestedListing)
        except PermanentError as exc:
            await publish_dead_letters(
                broker=broker,
                source=LISTINGS_INGESTED,
                records=[to_failed(record, exc)],
                service="test",
            )

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"\x00garbage", LISTINGS_INGESTED.name)
        await asyncio.wait_for(done.wait(), 5)

    assert len(received) == 1
    assert received[0].original == b"\x00garbage"
    assert received[0].error_type == "PermanentError"
    assert received[0].source_topic == LISTINGS_INGESTED.name
    assert received[0].service == "test"


def test_encode_event_uses_english_names() -> None:
    listing = IngestedListing.model_validate(
        {
            "listing_id": "x",
            "source": "s",
            "ingested_at": "2026-11-28T00:00:00Z",
            "features": {
                "area": 50,
                "quartos": 1,
                "banheiros": 1,
                "idade": 1,
                "garagem": 0,
                "bairro": "Centro",
            },
            "content_hash": "h",
        }
    )
    assert b'"bedrooms":1' in encode_event(listing)


async def test_retry_transient_retries_then_succeeds_and_is_bounded() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("db down")
        return "ok"

    assert await retry_transient(flaky, initial_s=0.001, max_s=0.002) == "ok"
    assert calls == 3

    async def always_down() -> str:
        raise TransientError("still down")

    with pytest.raises(TransientError):
        await retry_transient(always_down, attempts=3, initial_s=0.001, max_s=0.002)


async def test_retry_transient_does_not_retry_permanent_errors() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("bad record")

    with pytest.raises(PermanentError):
        await retry_transient(broken, initial_s=0.001)
    assert calls == 1
