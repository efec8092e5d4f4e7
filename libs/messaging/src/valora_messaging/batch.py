"""Plain record types for batch handlers: handlers never see aiokafka or FastStream types.

Entrypoints convert consumed records to :class:`InRecord`; handlers return
:class:`~valora_messaging.publishing.OutgoingRecord` and
:class:`~valora_messaging.dlq.FailedRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from valora_messaging.dlq import FailedRecord

__all__ = [
    "ConsumedBatch",
    "InRecord",
    "commit_offsets",
    "from_consumer_records",
    "records_decoder",
    "records_of",
    "to_failed",
]


@dataclass(frozen=True, slots=True)
class InRecord:
    """One consumed Kafka record."""

    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                try:
                    return value.decode()
                except UnicodeDecodeError:
                    return None
        return None


def from_consumer_records(records: Iterable[Any]) -> list[InRecord]:
    """Convert aiokafka ``ConsumerRecord`` objects (or look-alikes) to :class:`InRecord`."""
    return [
        InRecord(
            value=r.value if r.value is not None else b"",
            key=r.key or None,
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            headers=tuple(r.headers or ()),
        )
        for r in records
    ]


class ConsumedBatch(list[InRecord]):
    """The records of one FastStream message, with the message itself (for seeking back)."""

    __slots__ = ("message",)

    def __init__(self, records: Iterable[InRecord], *, message: Any = None) -> None:
        super().__init__(records)
        self.message = message


def records_of(raw_message: Any) -> list[InRecord]:
    """The records behind a FastStream Kafka message (one record, or a batch's tuple)."""
    records = raw_message if isinstance(raw_message, tuple | list) else (raw_message,)
    return from_consumer_records(records)


async def records_decoder(message: Any) -> ConsumedBatch:
    """FastStream decoder (``decoder=`` of a subscriber): a handler's one argument becomes the
    :class:`InRecord` list behind the message (one record, or a batch's tuple).

    Handlers then take ``records: Any`` and no ``KafkaMessage`` context parameter: FastStream's
    dependency injection resolves a context parameter in a worker thread, a thread hop per
    message (or batch) on the hot path. Async, since a plain function would run in that pool
    too.
    """
    return ConsumedBatch(records_of(message.raw_message), message=message)


def to_failed(record: InRecord, error: BaseException) -> FailedRecord:
    return FailedRecord(
        value=record.value,
        key=record.key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=error,
    )


def commit_offsets(records: Sequence[InRecord]) -> dict[tuple[str, int], int]:
    """The offsets to commit after ``records``: last offset + 1 per (topic, partition)."""
    offsets: dict[tuple[str, int], int] = {}
    for r in records:
        if r.offset + 1 > offsets.get((r.topic, r.partition), -1):
            offsets[(r.topic, r.partition)] = r.offset + 1
    return offsets
