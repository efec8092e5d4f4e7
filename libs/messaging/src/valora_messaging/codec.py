"""Encoding and decoding of contract events to and from Kafka record values."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from valora_messaging.errors import PermanentError

__all__ = ["decode_event", "encode_event", "encode_key"]

E = TypeVar("E", bound=BaseModel)


def encode_event(event: BaseModel) -> bytes:
    """JSON bytes of an event (English field names)."""
    return event.model_dump_json().encode()


def encode_key(key: str | None) -> bytes | None:
    return None if key is None else key.encode()


def decode_event(raw: bytes, event_type: type[E]) -> E:
    """Parse ``raw`` as ``event_type``; a bad record raises :class:`PermanentError`."""
    try:
        return event_type.model_validate_json(raw)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event_type.__name__}: {exc}") from exc
