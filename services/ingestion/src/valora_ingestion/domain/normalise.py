"""Normalisation of raw listings: names, types, units, deterministic ids. Pure functions.

Accepted names are the older API's Portuguese ones (``area, quartos, banheiros, idade, garagem,
bairro, preco``) and the English ones; the output always uses English names, area in m².
Anything that cannot be normalised raises :class:`InvalidListingError` (dead-lettered).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from valora_contracts import IngestedListing, ListingFeatures, new_id

from valora_ingestion.errors import InvalidListingError

__all__ = [
    "SQFT_TO_M2",
    "NormalisedListing",
    "decode_raw",
    "normalise",
]

SQFT_TO_M2 = 0.09290304
_HASH_VERSION = b"v1"

_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("area", None),
    ("bedrooms", "quartos"),
    ("bathrooms", "banheiros"),
    ("age", "idade"),
    ("garage", "garagem"),
    ("neighbourhood", "bairro"),
    ("price", "preco"),
)
_M2_UNITS = frozenset({"m2", "m²", "sqm", "m^2"})
_SQFT_UNITS = frozenset({"sqft", "ft2", "ft²", "sq ft"})


@dataclass(frozen=True, slots=True)
class NormalisedListing:
    """An ingested listing plus its de-duplication key (source + id + content)."""

    listing: IngestedListing
    dedupe_key: bytes


def decode_raw(value: bytes) -> dict[str, Any]:
    """Parse a record value as a JSON object (NUL bytes and non-objects are rejected)."""
    if b"\x00" in value:
        raise InvalidListingError("record contains NUL bytes")
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidListingError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidListingError(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def _pick(raw: dict[str, Any], english: str, portuguese: str | None) -> Any:
    value = raw.get(english)
    if portuguese is not None and portuguese in raw:
        other = raw[portuguese]
        if value is None:
            return other
        if other is not None and other != value:
            raise InvalidListingError(
                f"{english}: conflicting values {value!r} ({english}) and {other!r} ({portuguese})"
            )
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidListingError(f"{name}: expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "").replace("_", "")
        if "," in text and "." not in text:  # pt-BR decimal comma: "120,5"
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            raise InvalidListingError(f"{name}: {value!r} is not a number") from None
    else:
        raise InvalidListingError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise InvalidListingError(f"{name}: must be finite, got {value!r}")
    return number


def _whole(value: Any, name: str, *, allow_bool: bool = False) -> int:
    if isinstance(value, bool) and allow_bool:
        return int(value)
    number = _number(value, name)
    if not number.is_integer():
        raise InvalidListingError(f"{name}: expected a whole number, got {value!r}")
    return int(number)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidListingError(f"{name}: expected text, got {type(value).__name__}")
    return " ".join(value.split())


def _area_m2(value: Any, unit: Any) -> float:
    area = _number(value, "area")
    if unit is None:
        return area
    if not isinstance(unit, str):
        raise InvalidListingError(f"area_unit: expected text, got {type(unit).__name__}")
    unit_key = unit.strip().lower()
    if unit_key in _M2_UNITS:
        return area
    if unit_key in _SQFT_UNITS:
        return area * SQFT_TO_M2
    raise InvalidListingError(f"area_unit: unknown unit {unit!r} (use m2 or sqft)")


def _timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidListingError(f"listed_at: {value!r} is not an ISO 8601 time") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidListingError(f"listed_at: {value!r} is out of range") from None
    else:
        raise InvalidListingError(f"listed_at: expected text, got {type(value).__name__}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _optional_text(value: Any) -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def _digest(*parts: bytes) -> str:
    return hashlib.blake2b(b"|".join(parts), digest_size=16).hexdigest()


def normalise(
    raw: dict[str, Any],
    *,
    now: datetime,
    default_source: str,
    header_source: str | None = None,
    header_trace_id: str | None = None,
) -> NormalisedListing:
    """Turn a decoded raw listing into an :class:`IngestedListing` (English names, m², ids)."""
    values = {english: _pick(raw, english, pt) for english, pt in _FIELDS}
    missing = [name for name, value in values.items() if value is None and name != "price"]
    if missing:
        raise InvalidListingError(f"missing feature(s): {', '.join(missing)}")

    area = round(_area_m2(values["area"], raw.get("area_unit")), 2)
    bedrooms = _whole(values["bedrooms"], "bedrooms")
    bathrooms = _whole(values["bathrooms"], "bathrooms")
    age = round(_number(values["age"], "age"), 2)
    garage = _whole(values["garage"], "garage", allow_bool=True)
    neighbourhood = _text(values["neighbourhood"], "neighbourhood")
    price = None if values["price"] is None else round(_number(values["price"], "price"), 2)
    listed_at = _timestamp(raw.get("listed_at"))

    content = b"|".join(
        (
            _HASH_VERSION,
            repr(area).encode(),
            str(bedrooms).encode(),
            str(bathrooms).encode(),
            repr(age).encode(),
            str(garage).encode(),
            neighbourhood.encode(),
            repr(price).encode(),
            listed_at.isoformat().encode() if listed_at else b"",
        )
    )
    content_hash = _digest(content)
    listing_id = _optional_text(raw.get("listing_id")) or f"lst-{content_hash[:24]}"
    source = _optional_text(raw.get("source")) or header_source or default_source
    trace_id = _optional_text(raw.get("trace_id")) or header_trace_id or new_id()
    dedupe = hashlib.blake2b(
        b"|".join((source.encode(), listing_id.encode(), content_hash.encode())), digest_size=16
    ).digest()

    try:
        listing = IngestedListing(
            event_id=_digest(dedupe, b"ingested"),
            occurred_at=now,
            trace_id=trace_id,
            listing_id=listing_id,
            source=source,
            ingested_at=now,
            listed_at=listed_at,
            features=ListingFeatures(
                area=area,
                bedrooms=bedrooms,
                bathrooms=bathrooms,
                age=age,
                garage=garage,
                neighbourhood=neighbourhood,
            ),
            price=price,
            content_hash=content_hash,
        )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidListingError(reasons) from None
    return NormalisedListing(listing=listing, dedupe_key=dedupe)
