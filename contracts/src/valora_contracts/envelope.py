"""The common envelope every Valora event carries, and shared field types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

__all__ = [
    "INT32_MAX",
    "NO_NUL_PATTERN",
    "CleanStr",
    "Count",
    "Envelope",
    "FiniteFloat",
    "Id64",
    "Id255",
    "Text",
    "Version",
    "new_id",
    "utcnow",
]

INT32_MAX = 2**31 - 1
"""Largest value of a PostgreSQL ``integer`` column (every stored count is bounded by it)."""

NO_NUL_PATTERN = r"^[^\x00]*$"
"""What every text field says in its JSON Schema: no NUL byte (PostgreSQL text cannot hold one)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


_NO_NUL_SCHEMA = Field(json_schema_extra={"pattern": NO_NUL_PATTERN})

CleanStr = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_reject_nul),
    _NO_NUL_SCHEMA,
]
"""A non-empty, trimmed name of at most 200 characters without NUL bytes."""

Version = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_reject_nul),
    _NO_NUL_SCHEMA,
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

FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite number (an integer is a number; a boolean or a numeric string is not)."""

Count = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
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
    schema_version: int = Field(
        default=1, ge=1, le=1000, strict=True, description="Version of this event's schema."
    )
    trace_id: Id64 = Field(
        default_factory=new_id,
        description="Trace id carried end to end, from the producer to the stored prediction.",
    )
