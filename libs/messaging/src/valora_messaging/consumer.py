"""Every Valora consumer is registered here, so every one runs under the one error policy.

:func:`subscribe` turns a :class:`Subscription` (topic, group, the handler, where its dead letters
go, and optionally per-partition transactions) into a FastStream subscriber that:

* reads committed data only (``read_committed``: records of aborted transactions never arrive);
* hands each batch to :meth:`~valora_messaging.policy.ErrorPolicy.run`, so errors are
  classified, retried with backoff, isolated and dead-lettered, never retried forever;
* for exactly-once consumers, admits only records of partitions this replica owns and runs each
  partition's records through its own transactions, side by side;
* seeks back (redelivery) only when the policy says the records must wait, and only on
  partitions still assigned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import AckStatus
from valora_contracts import TopicSpec

from valora_messaging.batch import InRecord, records_decoder
from valora_messaging.errors import FencedError, NotOwnerError
from valora_messaging.fencing import PartitionTransactions
from valora_messaging.policy import ErrorPolicy
from valora_messaging.settings import KafkaSettings
from valora_messaging.sink import BatchSink
from valora_messaging.tracing import consume_span

__all__ = ["Handle", "Subscription", "subscribe"]

logger = logging.getLogger(__name__)

Handle = Callable[[Sequence[InRecord]], Awaitable[object]]


@dataclass(frozen=True)
class Subscription:
    """One consumer of one topic.

    ``group_id=None`` is a broadcast reader (every replica reads every record, from the latest
    offset, acknowledging first): promotions and a gateway's replies.
    """

    topic: TopicSpec
    handle: Handle
    sink: BatchSink
    group_id: str | None
    batch: bool = True
    transactions: PartitionTransactions | None = None
    title: str | None = None


class _Consume:
    """The FastStream handler of one subscription."""

    def __init__(self, *, subscription: Subscription, policy: ErrorPolicy) -> None:
        self._sub = subscription
        self._policy = policy

    async def __call__(self, records: Any) -> None:
        try:
            with consume_span(records, topic=self._sub.topic.name, group=self._sub.group_id):
                await self._consume(records)
        except NotOwnerError as exc:  # the new owner reprocesses; nothing was committed here
            logger.info("batch abandoned: partition revoked", extra={"reason": str(exc)})
        except FencedError:
            raise
        except BaseException:
            if self._sub.transactions is not None:  # manual acknowledgement: seek back here
                _seek_back(records)
            raise
        finally:
            if self._sub.transactions is not None:
                # Offsets go with the transactions only, whatever became of the batch: a plain
                # OffsetCommit (e.g. DeferredCommits' middleware) of an abandoned batch would
                # move the group's offset back behind transactions already committed, and the
                # next owner of the partition would process those records a second time.
                _mark_committed(records)

    async def _consume(self, records: Sequence[InRecord]) -> None:
        sub = self._sub
        transactions = sub.transactions
        if transactions is None:
            await self._policy.run(records, process=sub.handle, source=sub.topic, sink=sub.sink)
            return
        parts: dict[tuple[str, int], list[InRecord]] = {}
        for record in await transactions.admit(records):
            parts.setdefault((record.topic, record.partition), []).append(record)
        results = await asyncio.gather(
            *(
                self._policy.run(part, process=sub.handle, source=sub.topic, sink=sub.sink)
                for part in parts.values()
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            fenced = [e for e in errors if isinstance(e, FencedError)]
            others = [e for e in errors if not isinstance(e, NotOwnerError)]
            raise (fenced or others or errors)[0]


def _mark_committed(records: Any) -> None:
    message = getattr(records, "message", None)
    if message is not None:
        message.committed = AckStatus.ACKED


def _seek_back(records: Any) -> None:
    """Rewind each still-assigned partition of the batch to its first record (redelivery)."""
    message = getattr(records, "message", None)
    consumer = getattr(message, "consumer", None)
    if consumer is None or not hasattr(consumer, "assignment"):
        return
    assigned = consumer.assignment()
    earliest: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if tp in assigned and record.offset < earliest.get(tp, record.offset + 1):
            earliest[tp] = record.offset
    for tp, offset in earliest.items():
        consumer.seek(tp, offset)


def consumer_options(*, settings: KafkaSettings, subscription: Subscription) -> dict[str, Any]:
    """FastStream ``subscriber(...)`` keyword arguments of a subscription."""
    options: dict[str, Any] = {
        "group_id": subscription.group_id,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "isolation_level": "read_committed",
        "decoder": records_decoder,
        "max_poll_interval_ms": settings.kafka_max_poll_interval_ms,
    }
    if subscription.group_id is None:
        options.update(auto_offset_reset="latest", ack_policy=AckPolicy.ACK_FIRST)
    else:
        options["auto_offset_reset"] = settings.kafka_auto_offset_reset
        options["ack_policy"] = (
            AckPolicy.MANUAL if subscription.transactions else AckPolicy.NACK_ON_ERROR
        )
    if subscription.transactions is not None:
        options["listener"] = subscription.transactions.listener()
    if subscription.batch:
        options.update(
            batch=True,
            max_records=settings.kafka_batch_max_records,
            batch_timeout_ms=settings.kafka_batch_timeout_ms,
        )
    return options


def subscribe(
    broker: KafkaBroker,
    *,
    subscription: Subscription,
    policy: ErrorPolicy,
    settings: KafkaSettings,
    **overrides: Any,
) -> Any:
    """Register ``subscription`` on ``broker``; returns the FastStream subscriber (its
    ``consumer`` exists once the broker started: see :class:`~valora_messaging.lag.ConsumerLag`).
    ``overrides`` replace any FastStream option (e.g. ``max_records``)."""
    options = {**consumer_options(settings=settings, subscription=subscription), **overrides}
    title = subscription.title or f"{subscription.topic.name}:{subscription.group_id or 'all'}"
    subscriber = broker.subscriber(subscription.topic.name, title=title, **options)
    if subscription.transactions is not None:
        subscription.transactions.bind(lambda: subscriber.consumer)
    consume = _Consume(subscription=subscription, policy=policy)

    async def on_records(records: Any) -> None:
        await consume(records)

    subscriber(on_records)
    return subscriber
