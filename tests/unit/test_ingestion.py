"""Ingestion: normalisation as plain functions, and the subscriber on the in-memory broker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from valora_contracts import (
    LISTINGS_INGESTED,
    LISTINGS_RAW,
    DeadLetter,
    IngestedListing,
    dlq_for,
)
from valora_ingestion.domain.dedupe import RecentKeys
from valora_ingestion.domain.normalise import SQFT_TO_M2, decode_raw, normalise
from valora_ingestion.entrypoints.handlers import IngestionHandler
from valora_ingestion.entrypoints.subscribers import register_subscribers
from valora_ingestion.errors import InvalidListingError
from valora_ingestion.settings import IngestionSettings
from valora_messaging import ConsumerRuntime, FailedRecord, InRecord, OutgoingRecord
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PT = {
    "area": 120,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5,
    "garagem": 1,
    "bairro": "Centro",
    "preco": 450000,
}
EN = {
    "area": 120,
    "bedrooms": 3,
    "bathrooms": 2,
    "age": 5,
    "garage": 1,
    "neighbourhood": "Centro",
    "price": 450000,
}


def norm(raw: dict[str, Any], **kw: Any) -> IngestedListing:
    return normalise(raw, now=NOW, default_source="test", **kw).listing


def test_portuguese_and_english_names_give_the_same_listing() -> None:
    pt, en = norm(PT), norm(EN)
    assert pt.features == en.features
    assert pt.listing_id == en.listing_id
    assert pt.content_hash == en.content_hash
    assert pt.price == 450000
    assert pt.listing_id.startswith("lst-")


def test_id_is_deterministic_and_content_based() -> None:
    assert norm(PT).listing_id == norm(dict(PT)).listing_id
    assert norm(PT).event_id == norm(dict(PT)).event_id
    assert norm(PT).listing_id != norm({**PT, "area": 121}).listing_id
    assert norm({**PT, "listing_id": "abc-1"}).listing_id == "abc-1"


def test_types_are_normalised() -> None:
    listing = norm(
        {
            **EN,
            "area": "120,5",
            "bedrooms": "3",
            "bathrooms": 2.0,
            "garage": True,
            "neighbourhood": "  Zona   Sul ",
            "price": "450000.004",
        }
    )
    f = listing.features
    assert (f.area, f.bedrooms, f.bathrooms, f.garage) == (120.5, 3, 2, 1)
    assert f.neighbourhood == "Zona Sul"
    assert listing.price == 450000.0


def test_sqft_is_converted_to_m2() -> None:
    listing = norm({**EN, "area": 1000, "area_unit": "sqft"})
    assert listing.features.area == round(1000 * SQFT_TO_M2, 2)
    assert listing.content_hash == norm({**EN, "area": 92.9}).content_hash


def test_source_trace_and_times_are_stamped() -> None:
    listing = norm({**EN, "source": "feed-a", "trace_id": "t1", "listed_at": "2024-12-01T10:00:00"})
    assert listing.source == "feed-a"
    assert listing.trace_id == "t1"
    assert listing.ingested_at == NOW
    assert listing.listed_at == datetime(2024, 12, 1, 10, tzinfo=UTC)
    assert norm(EN).source == "test"
    assert norm(EN, header_source="hdr").source == "hdr"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({**EN, "bedrooms": 2.5}, "whole number"),
        ({**EN, "bedrooms": "three"}, "not a number"),
        ({**EN, "area": -10}, "area"),
        ({**EN, "age": "NaN"}, "finite"),
        ({**EN, "area": "1e400"}, "finite"),
        ({**EN, "neighbourhood": "Cen\x00tro"}, "NUL"),
        ({**EN, "neighbourhood": 7}, "expected text"),
        ({**EN, "price": 0}, "price"),
        ({**EN, "area_unit": "acres"}, "unknown unit"),
        ({**EN, "listed_at": "yesterday"}, "ISO 8601"),
        ({k: v for k, v in EN.items() if k != "bathrooms"}, "missing"),
        ({**EN, "quartos": 4}, "conflicting"),
        ({**EN, "bedrooms": True}, "boolean"),
        ({**EN, "trace_id": "t" * 65}, "trace_id"),  # longer than stored: never downstream
        ({**EN, "listing_id": "l" * 201}, "listing_id"),
    ],
)
def test_unparseable_listings_are_rejected(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidListingError, match=reason):
        norm(raw)


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b"\x00{}", b"NaN", b""])
def test_undecodable_bytes_are_rejected(value: bytes) -> None:
    with pytest.raises(InvalidListingError):
        decode_raw(value)


def test_recent_keys_is_bounded_lru() -> None:
    recent = RecentKeys(capacity=2)
    recent.add_all([b"a", b"b"])
    recent.add_all([b"a", b"c"])
    assert b"a" in recent
    assert b"c" in recent
    assert b"b" not in recent
    assert len(recent) == 2


class FakeSink:
    def __init__(self, *, fail: bool = False) -> None:
        self.outputs: list[OutgoingRecord] = []
        self.failed: list[FailedRecord] = []
        self.offsets: list[dict[tuple[str, int], int]] = []
        self.fail = fail

    async def write(self, *, outputs: Any, failed: Any, offsets: Any) -> None:
        if self.fail:
            raise RuntimeError("kafka down")
        self.outputs += outputs
        self.failed += failed
        self.offsets.append(dict(offsets))


def rec(value: bytes, offset: int, partition: int = 0) -> InRecord:
    return InRecord(
        value=value, key=None, topic=LISTINGS_RAW.name, partition=partition, offset=offset
    )


def make_handler(sink: FakeSink, recent: RecentKeys | None = None) -> IngestionHandler:
    return IngestionHandler(
        sink=sink,
        recent=recent or RecentKeys(capacity=100),
        metrics=ServiceMetrics("ingestion"),
        default_source="test",
        clock=lambda: NOW,
    )


async def test_handler_splits_outputs_dead_letters_and_duplicates() -> None:
    sink = FakeSink()
    handler = make_handler(sink)
    batch = [
        rec(orjson.dumps(PT), 0),
        rec(b"{oops", 1),
        rec(orjson.dumps(EN), 2),
        rec(orjson.dumps({**EN, "area": 99}), 3, partition=1),
    ]
    outcome = await handler.handle_batch(batch)
    assert (outcome.ingested, outcome.duplicates, outcome.dead_lettered) == (2, 1, 1)
    assert sink.offsets == [{(LISTINGS_RAW.name, 0): 3, (LISTINGS_RAW.name, 1): 4}]
    assert sink.failed[0].offset == 1
    assert sink.failed[0].value == b"{oops"
    # a later exact repeat is dropped too
    again = await handler.handle_batch([rec(orjson.dumps(EN), 4)])
    assert again.duplicates == 1
    assert again.ingested == 0


async def test_failed_write_does_not_mark_records_as_seen() -> None:
    recent = RecentKeys(capacity=100)
    with pytest.raises(RuntimeError):
        await make_handler(FakeSink(fail=True), recent).handle_batch([rec(orjson.dumps(EN), 0)])
    sink = FakeSink()
    outcome = await make_handler(sink, recent).handle_batch([rec(orjson.dumps(EN), 0)])
    assert outcome.ingested == 1  # the redelivered record is not taken for a duplicate


async def test_subscriber_on_in_memory_broker() -> None:
    settings = IngestionSettings(ingestion_exactly_once=False)
    runtime = ConsumerRuntime.create(settings=settings, client_id="ingestion")
    broker = runtime.broker
    sink = runtime.output_sink(source=LISTINGS_RAW, group_id="g", exactly_once=False)
    handler = IngestionHandler(
        sink=sink,
        recent=RecentKeys(capacity=100),
        metrics=runtime.metrics,
        default_source="test",
    )
    register_subscribers(runtime, settings=settings, handler=handler, sink=sink)
    ingested: list[IngestedListing] = []
    dead: list[DeadLetter] = []

    @broker.subscriber(LISTINGS_INGESTED.name)
    async def collect(msg: KafkaMessage) -> None:
        ingested.append(IngestedListing.model_validate_json(msg.body))

    @broker.subscriber(dlq_for(LISTINGS_RAW).name)
    async def collect_dead(msg: KafkaMessage) -> None:
        dead.append(DeadLetter.model_validate_json(msg.body))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(orjson.dumps({**PT, "source": "unit"}), LISTINGS_RAW.name)
        await test_broker.publish(b'{"area": "big"}', LISTINGS_RAW.name)
        await test_broker.publish(orjson.dumps({**PT, "source": "unit"}), LISTINGS_RAW.name)

    assert len(ingested) == 1
    assert ingested[0].source == "unit"
    assert ingested[0].features.bedrooms == 3
    assert len(dead) == 1
    assert dead[0].original == b'{"area": "big"}'
    assert dead[0].source_topic == LISTINGS_RAW.name
    assert "missing" in dead[0].error
