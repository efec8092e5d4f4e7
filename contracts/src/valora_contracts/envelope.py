"""The common envelope every Valora event carries, and shared field types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["CleanStr", "Envelope", "FiniteFloat", "new_id", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


CleanStr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_reject_nul),
]
"""A non-empty, trimmed string without NUL bytes."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Envelope(BaseModel):
    """Fields common to every event: identity, time, schema version and trace id."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: str = Field(
        default_factory=new_id,
        min_length=1,
        max_length=64,
        description="Unique id of this event (hex UUID).",
    )
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When the event happened (timezone-aware, UTC)."
    )
    schema_version: int = Field(default=1, ge=1, description="Version of this event's schema.")
    trace_id: str = Field(
        default_factory=new_id,
        min_length=1,
        max_length=64,
        description="Trace id carried end to end, from the producer to the stored prediction.",
    )
