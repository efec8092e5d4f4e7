"""Pipelined publishing: send many records, then wait until the broker confirmed all of them."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker

__all__ = ["OutgoingRecord", "publish_many"]


@dataclass(frozen=True)
class OutgoingRecord:
    """One record to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def publish_many(*, broker: KafkaBroker, records: Iterable[OutgoingRecord]) -> int:
    """Publish without waiting per record, then await every acknowledgement.

    Returning means every record is durable (``acks=all``), so the caller may commit its input
    offsets. Any failed send raises, and the caller's input is redelivered.
    """
    pending = []
    count = 0
    for record in records:
        result = await broker.publish(
            record.value,
            record.topic,
            key=record.key,
            headers=record.headers or None,
            no_confirm=True,
        )
        count += 1
        if inspect.isawaitable(result):
            pending.append(result)
    if pending:
        await asyncio.gather(*pending)
    return count
