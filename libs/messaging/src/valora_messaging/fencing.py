"""Exactly-once through rebalances: one transactional producer per assigned input partition.

Kafka fences a zombie by transactional id: starting a producer with an id aborts any open
transaction of an earlier producer with that id and refuses its later commits. aiokafka's
``send_offsets_to_transaction`` sends no consumer-group generation (KIP-447), so a replica whose
own id differs from the new owner's is never fenced: frozen past its session timeout and then
thawed, it commits the transaction it had open over records the new owner has reprocessed.

:class:`PartitionTransactions` therefore derives the id from the consumer group, topic and
partition. When a partition is assigned it

1. starts that partition's producer (``initTransactions``: whichever replica owned the partition
   before is fenced now, and its open transaction is aborted or completed),
2. only then reads the group's committed offset of the partition (nothing older can commit any
   more, so it is final) and seeks the consumer there, and
3. from then on admits only records at or after that offset; each transaction writes one
   partition's outputs, dead letters and next offset, so the expected offset moves with it.

A record fetched from a stale position (before step 2) is below the expected offset and
dropped. A batch admitted under an earlier assignment of the partition is refused at write time
(:class:`~valora_messaging.errors.NotOwnerError`), and a commit by a fenced producer raises
:class:`~valora_messaging.errors.FencedError`, which ends the process. Producers are created once
per assignment (never per batch) and closed on revocation, after the partition's transaction in
flight finished.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from valora_contracts import TopicSpec

from valora_messaging.batch import InRecord
from valora_messaging.dlq import FailedRecord, dead_letter_record
from valora_messaging.errors import (
    ErrorClass,
    FencedError,
    MessagingError,
    NotOwnerError,
    TransientError,
    classify,
)
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.publishing import OutgoingRecord
from valora_messaging.tracing import send_span

__all__ = ["AssignedConsumer", "PartitionTransactions", "TransactionError"]

logger = logging.getLogger(__name__)

_CLAIM_WAIT_S = 60.0
"""Longest a batch waits for its partition's claim before it is handed back (redelivered)."""

_ADMITTED: contextvars.ContextVar[dict[TopicPartition, int]] = contextvars.ContextVar(
    "valora_admitted_epochs"
)


class TransactionError(MessagingError):
    """A partition's transaction was aborted; its cause says why (classified by the policy)."""


class AssignedConsumer(Protocol):
    """What :class:`PartitionTransactions` needs of the consumer (``AIOKafkaConsumer``)."""

    async def committed(self, partition: TopicPartition) -> int | None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...


@dataclass(slots=True)
class _Partition:
    producer: AIOKafkaProducer
    expected: int | None
    epoch: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class PartitionTransactions:
    """A :class:`~valora_messaging.sink.BatchSink` writing each input partition's results in
    transactions of that partition's own producer."""

    def __init__(
        self,
        *,
        producer_factory: Callable[[str], AIOKafkaProducer],
        group_id: str,
        source: TopicSpec,
        service: str,
        metrics: ConsumerMetrics | None = None,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self._factory = producer_factory
        self._group_id = group_id
        self._source = source
        self._service = service
        self._metrics = metrics
        self._on_fatal = on_fatal
        self._consumer: Callable[[], AssignedConsumer | None] = lambda: None
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._claimed: dict[TopicPartition, asyncio.Event] = {}
        self._epoch = 0
        self.fenced = False

    @property
    def healthy(self) -> bool:
        return not self.fenced

    def transactional_id(self, tp: TopicPartition) -> str:
        """Stable and shared by every replica of the group: ``<group>.<topic>.<partition>``."""
        return f"{self._group_id}.{tp.topic}.{tp.partition}"

    def bind(self, consumer: Callable[[], AssignedConsumer | None]) -> None:
        """How to find the consumer whose assignment this follows (it exists once its
        subscriber started, before it joins the group)."""
        self._consumer = consumer

    def listener(self) -> ConsumerRebalanceListener:
        return _Listener(self)

    @property
    def owned(self) -> frozenset[TopicPartition]:
        return frozenset(self._partitions)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.on_revoked(list(self._partitions))

    async def on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        new = [tp for tp in assigned if tp not in self._partitions]
        if not new:
            return
        self._epoch += 1
        results = await asyncio.gather(*(self._claim(tp) for tp in new), return_exceptions=True)
        for tp, result in zip(new, results, strict=True):
            if isinstance(result, BaseException):
                self._give_up(tp, result)
            else:
                self._claim_event(tp).set()

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            partition = self._partitions.get(tp)
            if partition is None:
                continue
            async with partition.lock:  # the transaction in flight finishes first
                self._partitions.pop(tp, None)
                self._claimed.pop(tp, None)
                try:
                    await partition.producer.stop()
                except Exception as exc:  # a producer that cannot stop cleanly is dropped
                    logger.warning("partition producer stop failed", extra={"error": repr(exc)})
        if revoked:
            logger.info("partitions released", extra={"partitions": _names(revoked)})

    async def _claim(self, tp: TopicPartition) -> None:
        producer = self._factory(self.transactional_id(tp))
        await producer.start()  # initTransactions: the previous owner is fenced from here on
        consumer = self._consumer()
        if consumer is None:
            await producer.stop()
            raise RuntimeError("PartitionTransactions.bind(consumer) was not called")
        committed = await consumer.committed(tp)
        if committed is not None:
            consumer.seek(tp, committed)
        self._partitions[tp] = _Partition(producer, committed, self._epoch)
        logger.info(
            "partition claimed",
            extra={"partition": f"{tp.topic}-{tp.partition}", "committed": committed},
        )

    def _give_up(self, tp: TopicPartition, error: BaseException) -> None:
        reason = f"could not claim {tp.topic}-{tp.partition}: {error!r}"[:500]
        logger.critical("partition claim failed", extra={"error": reason})
        if self._on_fatal is not None:  # records of an unclaimed partition could not be owned
            self._on_fatal(reason)

    def _claim_event(self, tp: TopicPartition) -> asyncio.Event:
        return self._claimed.setdefault(tp, asyncio.Event())

    async def _await_claims(self, records: Sequence[InRecord]) -> None:
        """Records of a partition the consumer was just assigned may arrive before its claim
        finished (the fetcher runs beside the rebalance callback): wait for the claim rather
        than drop them (with no committed offset to seek back to, they would never be read
        again). Records of partitions not assigned any more are stale and are dropped."""
        consumer = self._consumer()
        assigned = consumer.assignment() if consumer is not None else set()
        pending = {
            tp
            for r in records
            if (tp := TopicPartition(r.topic, r.partition)) not in self._partitions
            and tp in assigned
        }
        for tp in pending:
            try:
                await asyncio.wait_for(self._claim_event(tp).wait(), _CLAIM_WAIT_S)
            except TimeoutError:
                raise TransientError(f"{tp.topic}-{tp.partition} is still being claimed") from None

    async def admit(self, records: Sequence[InRecord]) -> list[InRecord]:
        """The records this replica may process now: of owned partitions (waiting for a claim
        in progress), at or after the expected offset. Remembers the assignment they were
        admitted under (checked at write)."""
        await self._await_claims(records)
        admitted: list[InRecord] = []
        epochs: dict[TopicPartition, int] = {}
        dropped = 0
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            partition = self._partitions.get(tp)
            if partition is None or (
                partition.expected is not None and record.offset < partition.expected
            ):
                dropped += 1
                continue
            epochs[tp] = partition.epoch
            admitted.append(record)
        if dropped:
            logger.info("stale records dropped", extra={"records": dropped})
        _ADMITTED.set(epochs)
        return admitted

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None:
        if not offsets:
            if outputs or failed:
                raise ValueError("a transactional write needs the offsets of its input")
            return
        if len(offsets) != 1:
            raise ValueError("one transaction per input partition: split the batch first")
        ((topic, number), next_offset) = next(iter(offsets.items()))
        tp = TopicPartition(topic, number)
        partition = self._partitions.get(tp)
        admitted = _ADMITTED.get({}).get(tp)
        if partition is None or admitted != partition.epoch:
            raise NotOwnerError(f"{topic}-{number} is no longer assigned to this replica")
        letters = [
            dead_letter_record(record=r, source=self._source, service=self._service) for r in failed
        ]
        async with partition.lock:
            if self._partitions.get(tp) is not partition:
                raise NotOwnerError(f"{topic}-{number} was revoked while being handled")
            await self._commit(partition.producer, tp, [*outputs, *letters], next_offset)
            partition.expected = next_offset
        if failed and self._metrics is not None:
            self._metrics.dead_lettered(failed)

    async def _commit(
        self,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        records: Sequence[OutgoingRecord],
        next_offset: int,
    ) -> None:
        try:
            async with producer.transaction():
                topic = records[0].topic if records else tp.topic
                with send_span(topic, count=len(records)) as traced:
                    for out in records:
                        merged = {**traced, **out.headers}
                        headers = [(k, v.encode()) for k, v in merged.items()] or None
                        await producer.send(out.topic, out.value, key=out.key, headers=headers)
                await producer.send_offsets_to_transaction({tp: next_offset}, self._group_id)
        except KafkaError as exc:
            if classify(exc) is ErrorClass.FENCED:
                self.fenced = True
                raise FencedError(f"producer of {tp.topic}-{tp.partition} fenced") from exc
            raise TransactionError(f"transaction aborted: {exc!r}") from exc


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: PartitionTransactions) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner.on_revoked(sorted(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._owner.on_assigned(sorted(assigned))


def _names(tps: Sequence[TopicPartition]) -> list[str]:
    return [f"{tp.topic}-{tp.partition}" for tp in tps]
