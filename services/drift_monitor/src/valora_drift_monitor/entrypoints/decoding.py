"""Decoding consumed records into what the monitor reads of them (bad records -> dead letters).

At 10,000 listings/s (each followed by its prediction) full pydantic validation of
``ValidatedListing`` and ``PredictionMade`` was most of the monitor's CPU. The fast path parses
with orjson and checks the fields it reads against the contract's own bounds (types, lengths,
ranges; never more lenient than the contract); a record it cannot read (e.g. Portuguese
aliases, odd types, no event id) goes through the contract model itself, and only a record the
contract rejects too is dead-lettered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from valora_contracts import PredictionMade, SaleObserved, ShadowPrediction, ValidatedListing
from valora_contracts.listing import MAX_AGE, MAX_AREA, MAX_COUNT
from valora_messaging import FailedRecord, InRecord, to_failed

from valora_drift_monitor.domain.events import FeatureRow, ListingEvent, PredictionEvent
from valora_drift_monitor.errors import InvalidEventError

__all__ = ["decode", "parse_listing", "parse_prediction", "parse_sale", "parse_shadow"]

V = TypeVar("V")


def decode(
    records: Sequence[InRecord], parse: Callable[[bytes], V], name: str
) -> tuple[list[V], list[FailedRecord]]:
    """The parsed records, and the ones that are not a ``name`` (to dead-letter)."""
    events: list[V] = []
    failed: list[FailedRecord] = []
    for record in records:
        try:
            events.append(parse(record.value))
        except (ValueError, TypeError, KeyError) as exc:  # not a ``name``: this record's problem
            failed.append(to_failed(record, InvalidEventError(f"invalid {name}: {exc}")))
    return events, failed


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime")
    return parsed


def _number(value: Any, *, minimum: float, strict: bool) -> float:
    if type(value) not in (int, float):
        raise TypeError("not a number")
    number = float(value)
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        raise ValueError("out of range")
    return number


def _count(value: Any) -> float:
    if type(value) is not int or value < 0 or value > MAX_COUNT:
        raise ValueError("not a count")
    return float(value)


def _text(value: Any, max_length: int = 200) -> str:
    """A name as the contract's ``CleanStr`` (trimmed, 1..200 characters, no NUL)."""
    if type(value) is not str:
        raise ValueError("not a string")
    text = value.strip()
    if not text or len(text) > max_length or "\x00" in text:
        raise ValueError("not a name")
    return text


def _event_id(value: Any) -> str:
    if type(value) is not str or not value or len(value) > 64:
        raise ValueError("not an event id")
    return value


def _bounded(value: float, maximum: float) -> float:
    if value > maximum:
        raise ValueError("out of range")
    return value


def _estimate(value: Any) -> float | None:
    """An optional non-negative finite number (the contract's ``expected_abs_error``)."""
    return None if value is None else _number(value, minimum=0.0, strict=False)


def _price(value: Any) -> float | None:
    """An optional finite price above zero (the contract's ``asking_price``)."""
    return None if value is None else _number(value, minimum=0.0, strict=True)


def _row(features: dict[str, Any]) -> FeatureRow:
    return (
        _bounded(_number(features["area"], minimum=0.0, strict=True), MAX_AREA),
        _count(features["bedrooms"]),
        _count(features["bathrooms"]),
        _bounded(_number(features["age"], minimum=0.0, strict=False), MAX_AGE),
        _count(features["garage"]),
        _text(features["neighbourhood"]),
    )


_FAST_MAX_BYTES = 16 * 1024
"""Larger than any valid listing or prediction event (every field is bounded): such a record is
held to the whole contract, which rejects it, rather than read field by field."""


def _fast_body(raw: bytes) -> Any:
    if len(raw) > _FAST_MAX_BYTES:
        raise ValueError("larger than any valid event")
    return orjson.loads(raw)


def parse_listing(raw: bytes) -> ListingEvent:
    """The drift view of a ``ValidatedListing`` record (``ValueError`` if it is not one)."""
    try:
        body = _fast_body(raw)
        price = body.get("price")
        return ListingEvent(
            event_id=_event_id(body["event_id"]),
            listing_id=_text(body["listing_id"]),
            occurred_at=_time(body["occurred_at"]),
            price=None if price is None else _number(price, minimum=0.0, strict=True),
            row=_row(body["features"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        event = ValidatedListing.model_validate_json(raw)  # the contract decides
        f = event.features
        return ListingEvent(
            event_id=event.event_id,
            listing_id=event.listing_id,
            occurred_at=event.occurred_at,
            price=event.price,
            row=(f.area, f.bedrooms, f.bathrooms, f.age, f.garage, f.neighbourhood),
        )


def parse_prediction(raw: bytes) -> PredictionEvent:
    """The drift view of a ``PredictionMade`` record (``ValueError`` if it is not one)."""
    try:
        body = _fast_body(raw)
        result = body["result"]
        listing_id = result.get("listing_id")
        return PredictionEvent(
            event_id=_event_id(body["event_id"]),
            occurred_at=_time(body["occurred_at"]),
            listing_id=None if listing_id is None else _text(listing_id),
            price=_number(result["price"], minimum=-math.inf, strict=False),
            model_name=_text(result["model_name"]),
            model_version=_text(result["model_version"], max_length=32),
            neighbourhood=_text(body["features"]["neighbourhood"]),
            expected_abs_error=_estimate(result.get("expected_abs_error")),
            asking_price=_price(body.get("asking_price")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        event = PredictionMade.model_validate_json(raw)
        return PredictionEvent(
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            listing_id=event.result.listing_id,
            price=event.result.price,
            model_name=event.result.model_name,
            model_version=event.result.model_version,
            neighbourhood=event.features.neighbourhood,
            expected_abs_error=event.result.expected_abs_error,
            asking_price=event.asking_price,
        )


def parse_sale(raw: bytes) -> SaleObserved:
    """A ``SaleObserved`` record (validated by the contract: sales are few)."""
    return SaleObserved.model_validate_json(raw)


def parse_shadow(raw: bytes) -> ShadowPrediction:
    """A ``ShadowPrediction`` record (validated by the contract)."""
    return ShadowPrediction.model_validate_json(raw)
