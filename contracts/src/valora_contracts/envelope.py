"""The common envelope every Valora event carries, and shared field types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

__all__ = [
    "INT32_MAX",
    "JSON_NUMBER",
    "NO_NUL_PATTERN",
    "CleanStr",
    "Count",
    "Envelope",
    "FiniteFloat",
    "Id64",
    "Id255",
    "Text",
    "Version",
    "WholeNumber",
    "new_id",
    "utcnow",
]

INT32_MAX = 2**31 - 1
"""Largest value of a PostgreSQL ``integer`` column (every stored count is bounded by it)."""

NO_NUL_PATTERN = r"^[^\x00]*$"
"""What every text field says in its JSON Schema: no NUL byte (PostgreSQL text cannot hold one)."""

_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME_PATTERN = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
"""A name: no NUL byte and at least one character that is not white space (exactly the
characters Python's ``str.isspace`` calls white space, spelled out so that a JSON Schema
validator and the contract agree on every string)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


def _name(value: str) -> str:
    if value.isspace():
        raise ValueError("must not be blank")
    return _reject_nul(value)


_NO_NUL_SCHEMA = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
_NAME_SCHEMA = Field(json_schema_extra={"pattern": NAME_PATTERN})

CleanStr = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_name),
    _NAME_SCHEMA,
]
"""A name of 1 to 200 characters, not blank, without NUL bytes (taken as given: the JSON
Schema says exactly what is accepted, so nothing is trimmed into or out of validity)."""

Version = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=32),
    AfterValidator(_name),
    _NAME_SCHEMA,
]
"""A model version, contract version or short code (at most 32 characters)."""

Id64 = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_reject_nul),
    _NO_NUL_SCHEMA,
]
"""An id stored in a 64-character column (event, trace, correlation, request, run ids)."""

Id255 = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_reject_nul),
    _NO_NUL_SCHEMA,
]
"""An id stored in a 255-character column (input ids)."""

Text = Annotated[
    str, Strict(), StringConstraints(max_length=2000), AfterValidator(_reject_nul), _NO_NUL_SCHEMA
]
"""A human-readable message (at most 2,000 characters)."""


def _json_number(value: object) -> object:
    """Numbers are numbers: a boolean or a numeric string is refused (as JSON Schema does),
    while ``3.0`` is the whole number 3 (JSON Schema's ``integer`` accepts it too)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON number, not text or a boolean")
    return value


JSON_NUMBER = BeforeValidator(_json_number)
"""Put it last in an ``Annotated`` (after ``Ge``/``Le``: constraints before a validator reach
the JSON Schema, after it they do not)."""

FiniteFloat = Annotated[float, AllowInfNan(False), JSON_NUMBER]
"""A finite number (an integer is a number; a boolean or a numeric string is not)."""

WholeNumber = Annotated[int, JSON_NUMBER]
"""A whole number: ``3`` or ``3.0``, not ``3.5``, ``true`` or ``"3"``."""

Count = Annotated[int, Ge(0), Le(INT32_MAX), JSON_NUMBER]
"""A non-negative whole number that fits a PostgreSQL ``integer`` (a boolean is not a count)."""


class Envelope(BaseModel):
    """Fields common to every event: identity, time, schema version and trace id."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: Id64 = Field(
        default_factory=new_id, description="Unique id of this event (hex UUID)."
    )
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When the event happened (timezone-aware, UTC)."
    )
    schema_version: WholeNumber = Field(
        default=1, ge=1, le=1000, description="Version of this event's schema."
    )
    trace_id: Id64 = Field(
        default_factory=new_id,
        description="Trace id carried end to end, from the producer to the stored prediction.",
    )
