"""Contract tests: naming, bad inputs with field-level errors, registry, pinned schemas."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from valora_contracts import (
    ALL_TOPICS,
    LISTINGS_RAW,
    DeadLetter,
    DriftAlert,
    IngestedListing,
    ListingFeatures,
    PredictionInterval,
    PredictionRequested,
    RawListing,
    dlq_for,
    event_types,
    render_schemas,
    reply_topic,
    topic_by_name,
)
from valora_contracts.errors import UnknownTopicError

pytestmark = pytest.mark.unit

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"

SEED_BODY = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}
ENGLISH_BODY = {
    "area": 120.5,
    "bedrooms": 3,
    "bathrooms": 2,
    "age": 5.0,
    "garage": 1,
    "neighbourhood": "Zona Sul",
}


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


def test_portuguese_and_english_names_give_the_same_features() -> None:
    pt = ListingFeatures.model_validate(SEED_BODY)
    en = ListingFeatures.model_validate(ENGLISH_BODY)
    assert pt == en
    assert pt.model_dump() == ENGLISH_BODY


def test_features_serialise_with_english_names() -> None:
    dumped = json.loads(ListingFeatures.model_validate(SEED_BODY).model_dump_json())
    assert set(dumped) == set(ENGLISH_BODY)


@pytest.mark.parametrize(
    ("field", "value", "alias"),
    [
        ("area", math.nan, "area"),
        ("area", math.inf, "area"),
        ("area", -math.inf, "area"),
        ("idade", math.nan, "idade"),
        ("area", -10.0, "area"),
        ("area", 0.0, "area"),
        ("quartos", -1, "quartos"),
        ("banheiros", -2, "banheiros"),
        ("garagem", -1, "garagem"),
        ("idade", -0.5, "idade"),
        ("bairro", "Zona\x00Sul", "bairro"),
        ("bairro", "   ", "bairro"),
        ("quartos", "three", "quartos"),
        ("quartos", 2**67, "quartos"),
        ("garagem", 10_001, "garagem"),
        ("quartos", 2.5, "quartos"),
    ],
)
def test_bad_feature_values_are_rejected_with_the_field_named(
    field: str, value: Any, alias: str
) -> None:
    body = {**SEED_BODY, field: value}
    with pytest.raises(ValidationError) as info:
        ListingFeatures.model_validate(body)
    assert alias in _error_fields(info.value)


def test_nan_in_json_text_is_rejected() -> None:
    text = '{"area": NaN, "quartos": 3, "banheiros": 2, "idade": 5, "garagem": 1, "bairro": "X"}'
    with pytest.raises(ValidationError) as info:
        ListingFeatures.model_validate_json(text)
    assert info.value.errors()


def test_missing_and_unknown_fields_are_reported() -> None:
    body = {k: v for k, v in SEED_BODY.items() if k != "quartos"} | {"sauna": True}
    with pytest.raises(ValidationError) as info:
        ListingFeatures.model_validate(body)
    fields = _error_fields(info.value)
    assert "bedrooms" in fields
    assert "sauna" in fields


def test_raw_listing_is_lenient() -> None:
    raw = RawListing.model_validate({"quartos": "3", "area": "abc", "extra": [1, 2]})
    assert raw.bedrooms == "3"
    assert raw.area == "abc"
    assert raw.model_extra == {"extra": [1, 2]}


def test_envelope_defaults_and_round_trip() -> None:
    event = IngestedListing(
        listing_id="abc",
        source="test",
        ingested_at="2026-11-28T12:00:00Z",  # type: ignore[arg-type]
        features=ListingFeatures.model_validate(SEED_BODY),
        price=500_000.0,
        content_hash="h",
    )
    assert len(event.event_id) == 32
    assert event.occurred_at.tzinfo is not None
    assert event.schema_version == 1
    again = IngestedListing.model_validate_json(event.model_dump_json())
    assert again == event


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        IngestedListing(
            listing_id="abc",
            source="test",
            ingested_at="2026-11-28T12:00:00",  # type: ignore[arg-type]
            features=ListingFeatures.model_validate(SEED_BODY),
            content_hash="h",
        )
    assert "ingested_at" in _error_fields(info.value)


def test_prediction_request_needs_items_and_interval_is_ordered() -> None:
    with pytest.raises(ValidationError):
        PredictionRequested(reply_to="predictions.replies.x.v1", items=[])
    with pytest.raises(ValidationError):
        PredictionInterval(lower_bound=2.0, upper_bound=1.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trace_id", "t" * 65),
        ("event_id", "e" * 65),
        ("correlation_id", "c" * 65),
        ("batch_job_id", "j" * 33),
        ("items", [{"input_id": "i" * 256, "features": SEED_BODY}]),
        ("items", [{"listing_id": "l" * 256, "features": SEED_BODY}]),
    ],
)
def test_ids_longer_than_their_stored_columns_are_rejected(field: str, value: object) -> None:
    """A record produced straight to Kafka with an over-long id fails decoding (dead-lettered
    with the field named) rather than failing every insert and blocking its partition."""
    body = {"reply_to": "predictions.replies.x.v1", "items": [{"features": SEED_BODY}]}
    with pytest.raises(ValidationError) as info:
        PredictionRequested.model_validate({**body, field: value})
    assert [f for f in _error_fields(info.value) if f.split(".")[0] == field]


@pytest.mark.parametrize(
    "reply_to",
    [
        "listings.validated.v1",  # an existing topic that is not a reply topic
        "predictions.replies.GW.v1",  # not the naming reply_topic() produces
        "predictions.replies.a.b.v1",
        "predictions.replies." + "x" * 101 + ".v1",
        "predictions.replies.all.dlq.v1",
    ],
)
def test_reply_to_must_name_a_reply_topic(reply_to: str) -> None:
    with pytest.raises(ValidationError) as info:
        PredictionRequested.model_validate(
            {"reply_to": reply_to, "items": [{"features": SEED_BODY}]}
        )
    assert "reply_to" in _error_fields(info.value)


def test_every_reply_topic_the_registry_builds_is_a_valid_reply_to() -> None:
    for instance in ("gw-1", "Gateway_7.local", "x" * 300, "ÿ"):
        name = reply_topic(instance).name
        request = PredictionRequested.model_validate(
            {"reply_to": name, "items": [{"features": SEED_BODY}]}
        )
        assert request.reply_to == name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("garagem", False),
        ("quartos", True),
        ("banheiros", "2"),
        ("area", "120.5"),
        ("garagem", 1.5),
    ],
)
def test_numbers_are_strict_a_boolean_or_a_string_is_not_a_count(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        ListingFeatures.model_validate_json(json.dumps({**SEED_BODY, field: value}))
    assert field in _error_fields(info.value)


def test_a_whole_number_may_be_written_with_a_zero_fraction_as_json_schema_allows() -> None:
    features = ListingFeatures.model_validate_json(json.dumps({**SEED_BODY, "garagem": 1.0}))
    assert features.garage == 1


def test_the_schema_of_a_name_and_the_contract_agree_on_every_character() -> None:
    """A schema-driven client and the contract accept exactly the same names: no NUL, not
    blank (white space exactly as Python's ``str.isspace`` means it), nothing trimmed."""
    schema = ListingFeatures.model_json_schema()["properties"]["neighbourhood"]
    pattern = re.compile(schema["pattern"])
    disagree = []
    for point in [*range(0x3100), 0xFEFF, 0x1F600]:
        for text in (chr(point), chr(point) * 2, "a" + chr(point)):
            by_schema = bool(pattern.match(text))
            try:
                ListingFeatures.model_validate({**SEED_BODY, "bairro": text})
                by_contract = True
            except ValidationError:
                by_contract = False
            if by_schema != by_contract:
                disagree.append((hex(point), by_schema, by_contract))
    assert disagree == []
    assert not pattern.match("Zona\x00Sul")
    assert not pattern.match(" \t\x1d")


def test_drift_alert_rejects_unknown_state() -> None:
    with pytest.raises(ValidationError) as info:
        DriftAlert.model_validate(
            {
                "kind": "data",
                "feature": "area",
                "statistic": "psi",
                "value": 0.3,
                "threshold": 0.2,
                "severity": "critical",
                "window": {
                    "start": "2026-01-01T00:00:00Z",
                    "end": "2026-01-01T01:00:00Z",
                    "size": 1,
                },
                "model_name": "m",
                "model_version": "1",
                "dedupe_key": "k",
                "state": "flapping",
            }
        )
    assert "state" in _error_fields(info.value)


def test_dead_letter_keeps_original_bytes_through_json() -> None:
    original = b"\xff\xfe not json \x00"
    letter = DeadLetter(
        original=original,
        original_size=len(original),
        original_sha256="0" * 64,
        original_truncated=False,
        error_class="permanent",
        attempts=1,
        error_type="JSONDecodeError",
        error="bad",
        source_topic=LISTINGS_RAW.name,
        source_partition=0,
        source_offset=7,
        service="ingestion",
    )
    assert DeadLetter.model_validate_json(letter.model_dump_json()).original == original


def test_topic_registry_names_are_versioned_and_unique() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert all(n.rsplit(".", 1)[1].startswith("v") for n in names)
    assert dlq_for(LISTINGS_RAW).name == "listings.raw.dlq.v1"
    assert dlq_for(LISTINGS_RAW).event is DeadLetter
    assert topic_by_name("listings.raw.v1") is LISTINGS_RAW
    assert reply_topic("Gateway 1").name == "predictions.replies.gateway-1.v1"
    with pytest.raises(UnknownTopicError):
        topic_by_name("nope.v1")


def test_every_event_field_has_a_description() -> None:
    missing = [
        f"{name}.{field}"
        for name, model in event_types().items()
        for field, info in model.model_fields.items()
        if not info.description
    ]
    assert missing == []


def test_pinned_schemas_match_the_code() -> None:
    """A contract change must be deliberate: re-export with `make schemas` and commit."""
    rendered = render_schemas()
    pinned = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert set(pinned) == set(rendered), "run `make schemas` and commit contracts/schemas/"
    for name, text in rendered.items():
        assert pinned[name] == text, f"{name} differs from the pinned schema: run `make schemas`"
