"""Dead letters: keep what could not be processed, with its reason, then move on.

A dead letter holds at most :data:`~valora_contracts.MAX_ORIGINAL_BYTES` of the original value
plus its size and SHA-256, so writing it can never fail for size (a dead letter that does not fit
would block its partition as surely as the poison record did).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from valora_contracts import MAX_ORIGINAL_BYTES, DeadLetter, ErrorClassName, TopicSpec, dlq_for
from valora_contracts.dlq import MAX_ERROR_CHARS, MAX_KEY_BYTES

from valora_messaging.codec import encode_event
from valora_messaging.publishing import OutgoingRecord, publish_many

__all__ = [
    "FailedRecord",
    "dead_letter_from_record",
    "dead_letter_record",
    "publish_dead_letters",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedRecord:
    """A consumed record and why it failed."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int
    error: BaseException
    error_class: ErrorClassName = "permanent"
    attempts: int = 1


def dead_letter_from_record(*, record: FailedRecord, service: str) -> DeadLetter:
    value = record.value
    return DeadLetter(
        original=value[:MAX_ORIGINAL_BYTES],
        original_size=len(value),
        original_sha256=hashlib.sha256(value).hexdigest(),
        original_truncated=len(value) > MAX_ORIGINAL_BYTES,
        original_key=record.key[:MAX_KEY_BYTES] if record.key is not None else None,
        error_class=record.error_class,
        error_type=type(record.error).__name__[:200],
        error=(str(record.error) or repr(record.error))[:MAX_ERROR_CHARS],
        attempts=max(1, min(record.attempts, 1_000)),
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        service=service[:200],
    )


def dead_letter_record(
    *, record: FailedRecord, source: TopicSpec, service: str, dlq: TopicSpec | None = None
) -> OutgoingRecord:
    """The DLQ record for ``record`` (logged as a warning: a dead letter is never silent), on
    ``source``'s dead-letter topic unless ``dlq`` names another."""
    letter = dead_letter_from_record(record=record, service=service)
    logger.warning(
        "dead-lettering record",
        extra={
            "source_topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "error_class": letter.error_class,
            "error_type": letter.error_type,
            "error": letter.error[:300],
            "size": letter.original_size,
        },
    )
    return OutgoingRecord(
        topic=(dlq or dlq_for(source)).name,
        value=encode_event(letter),
        key=letter.original_key,
        headers={
            "error_type": letter.error_type,
            "error_class": letter.error_class,
            "source_topic": record.topic,
        },
    )


async def publish_dead_letters(
    *,
    broker: KafkaBroker,
    source: TopicSpec,
    records: Iterable[FailedRecord],
    service: str,
) -> int:
    """Publish each failed record to ``source``'s DLQ and wait for the broker to confirm.

    Called before the handler returns, so the source offset is committed only once the dead
    letter is durable. Returns the number published.
    """
    outgoing = [dead_letter_record(record=r, source=source, service=service) for r in records]
    return await publish_many(broker=broker, records=outgoing)
