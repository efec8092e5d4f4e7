"""Dead letters: keep what could not be processed, with its error, then move on."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from valora_contracts import DeadLetter, TopicSpec, dlq_for

from valora_messaging.codec import encode_event
from valora_messaging.publishing import OutgoingRecord, publish_many

__all__ = ["FailedRecord", "dead_letter_from_record", "dead_letter_record", "publish_dead_letters"]

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


def dead_letter_from_record(*, record: FailedRecord, service: str) -> DeadLetter:
    return DeadLetter(
        original=record.value,
        original_key=record.key,
        error_type=type(record.error).__name__,
        error=str(record.error)[:4000],
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        service=service,
    )


def dead_letter_record(*, record: FailedRecord, source: TopicSpec, service: str) -> OutgoingRecord:
    """The DLQ record for ``record`` (logged as a warning: a dead letter is never silent)."""
    letter = dead_letter_from_record(record=record, service=service)
    logger.warning(
        "dead-lettering record",
        extra={
            "source_topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "error_type": letter.error_type,
            "error": letter.error[:300],
        },
    )
    return OutgoingRecord(
        topic=dlq_for(source).name,
        value=encode_event(letter),
        key=record.key,
        headers={"error_type": letter.error_type, "source_topic": record.topic},
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
