"""Fast read views of the hot-path events: only the fields drift needs.

At 10,000 listings/s (each followed by its prediction) full pydantic validation of
``ValidatedListing`` and ``PredictionMade`` was most of the monitor's CPU. The fast path parses
with orjson and checks the fields it reads (types and the contract's feature constraints); a
record it cannot read (e.g. Portuguese aliases, odd types) goes through the contract model
itself, and only a record the contract rejects too is dead-lettered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from valora_contracts import PredictionMade, ValidatedListing

__all__ = ["ListingView", "PredictionView", "parse_listing", "parse_prediction"]


@dataclass(frozen=True, slots=True)
class ListingView:
    listing_id: str
    occurred_at: datetime
    price: float | None
    row: tuple[float, float, float, float, float, str]


@dataclass(frozen=True, slots=True)
class PredictionView:
    occurred_at: datetime
    listing_id: str | None
    price: float
    model_name: str
    model_version: str
    neighbourhood: str


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
    if type(value) is not int or value < 0:
        raise ValueError("not a count")
    return float(value)


def _text(value: Any) -> str:
    if type(value) is not str or not value.strip():
        raise ValueError("not a string")
    return value.strip()


def _row(features: dict[str, Any]) -> tuple[float, float, float, float, float, str]:
    return (
        _number(features["area"], minimum=0.0, strict=True),
        _count(features["bedrooms"]),
        _count(features["bathrooms"]),
        _number(features["age"], minimum=0.0, strict=False),
        _count(features["garage"]),
        _text(features["neighbourhood"]),
    )


def parse_listing(raw: bytes) -> ListingView:
    """The drift view of a ``ValidatedListing`` record (``ValueError`` if it is not one)."""
    try:
        body = orjson.loads(raw)
        price = body.get("price")
        return ListingView(
            listing_id=_text(body["listing_id"]),
            occurred_at=_time(body["occurred_at"]),
            price=None if price is None else _number(price, minimum=0.0, strict=True),
            row=_row(body["features"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        event = ValidatedListing.model_validate_json(raw)  # the contract decides
        f = event.features
        return ListingView(
            listing_id=event.listing_id,
            occurred_at=event.occurred_at,
            price=event.price,
            row=(f.area, f.bedrooms, f.bathrooms, f.age, f.garage, f.neighbourhood),
        )


def parse_prediction(raw: bytes) -> PredictionView:
    """The drift view of a ``PredictionMade`` record (``ValueError`` if it is not one)."""
    try:
        body = orjson.loads(raw)
        result = body["result"]
        listing_id = result.get("listing_id")
        return PredictionView(
            occurred_at=_time(body["occurred_at"]),
            listing_id=None if listing_id is None else _text(listing_id),
            price=_number(result["price"], minimum=-math.inf, strict=False),
            model_name=_text(result["model_name"]),
            model_version=_text(result["model_version"]),
            neighbourhood=_text(body["features"]["neighbourhood"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        event = PredictionMade.model_validate_json(raw)
        return PredictionView(
            occurred_at=event.occurred_at,
            listing_id=event.result.listing_id,
            price=event.result.price,
            model_name=event.result.model_name,
            model_version=event.result.model_version,
            neighbourhood=event.features.neighbourhood,
        )
