"""Per-partition transactions (zombie fencing) with a fake producer and consumer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced
from aiokafka.producer import sender
from aiokafka.structs import OffsetAndMetadata
from faststream.message import AckStatus
from valora_contracts import LISTINGS_INGESTED
from valora_messaging import (
    ConsumedBatch,
    DeferredCommits,
    ErrorPolicy,
    FailedRecord,
    FencedError,
    InRecord,
    KafkaSettings,
    NotOwnerError,
    OutgoingRecord,
    PartitionTransactions,
    RetrySettings,
    Subscription,
    commit_offsets,
    transactional_producer,
)
from valora_messaging.consumer import _Consume
from valora_messaging.sink import (
    CONCURRENT_TRANSACTIONS_RETRY_S,
    retry_concurrent_transactions_after,
)

pytestmark = pytest.mark.unit
TOPIC = LISTINGS_INGESTED.name


@dataclass
class FakeBroker:
    """What the cluster ends up with: committed transactions only."""

    committed: dict[TopicPartition, int] = field(default_factory=dict)
    records: list[tuple[str, bytes]] = field(default_factory=list)
    epochs: dict[str, int] = field(default_factory=dict)


class FakeProducer:
    def __init__(self, broker: FakeBroker, transactional_id: str) -> None:
        self.broker = broker
        self.id = transactional_id
        self.epoch = -1
        self.pending: list[tuple[str, bytes]] = []
        self.offsets: dict[TopicPartition, int] = {}
        self.hold: asyncio.Event | None = None

    async def start(self) -> None:  # initTransactions fences every older epoch of the id
        self.epoch = self.broker.epochs.get(self.id, 0) + 1
        self.broker.epochs[self.id] = self.epoch

    async def stop(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.pending, self.offsets = [], {}
        yield
        if self.hold is not None:
            await self.hold.wait()
        if self.broker.epochs[self.id] != self.epoch:
            raise ProducerFenced()
        self.broker.records.extend(self.pending)
        self.broker.committed.update(self.offsets)

    async def send(self, topic: str, value: bytes, **_: Any) -> None:
        self.pending.append((topic, value))

    async def send_offsets_to_transaction(self, offsets: dict[TopicPartition, int], _: str) -> None:
        self.offsets.update(offsets)


@dataclass(eq=False)  # hashable: DeferredCommits keys its offsets by consumer
class FakeConsumer:
    broker: FakeBroker
    seeks: dict[TopicPartition, int] = field(default_factory=dict)
    assigned: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.broker.committed.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """A plain OffsetCommit (what DeferredCommits sends): it lands as it is."""
        self.broker.committed.update({tp: meta.offset for tp, meta in offsets.items()})


def _replica(
    broker: FakeBroker, producers: list[FakeProducer] | None = None
) -> tuple[PartitionTransactions, FakeConsumer]:
    made = producers if producers is not None else []

    def factory(transactional_id: str) -> Any:
        producer = FakeProducer(broker, transactional_id)
        made.append(producer)
        return producer

    tx = PartitionTransactions(
        producer_factory=factory, group_id="g", source=LISTINGS_INGESTED, service="validator"
    )
    consumer = FakeConsumer(broker)
    tx.bind(lambda: consumer)
    return tx, consumer


def _records(offsets: range, partition: int = 0) -> list[InRecord]:
    return [InRecord(f"v{o}".encode(), None, TOPIC, partition, o) for o in offsets]


async def _process(tx: PartitionTransactions, records: list[InRecord]) -> None:
    outputs = [OutgoingRecord("out.v1", r.value) for r in records]
    await tx.write(outputs=outputs, failed=[], offsets=commit_offsets(records))


async def test_assignment_fences_by_partition_and_seeks_to_the_final_committed_offset() -> None:
    broker = FakeBroker(committed={TopicPartition(TOPIC, 1): 40})
    made: list[FakeProducer] = []
    tx, consumer = _replica(broker, made)
    await tx.on_assigned([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    assert sorted(p.id for p in made) == [f"g.{TOPIC}.0", f"g.{TOPIC}.1"]
    assert consumer.seeks == {TopicPartition(TOPIC, 1): 40}
    stale = _records(range(35, 45), partition=1)
    assert [r.offset for r in await tx.admit(stale)] == list(range(40, 45))


async def test_a_zombie_cannot_commit_after_the_new_owner_claimed_its_partition() -> None:
    broker = FakeBroker()
    tp = TopicPartition(TOPIC, 0)
    zombie, _ = _replica(broker)
    await zombie.on_assigned([tp])
    batch = await zombie.admit(_records(range(0, 10)))
    # the zombie freezes before committing; the group gives the partition to a new owner
    owner, _owner_consumer = _replica(broker)
    await owner.on_assigned([tp])
    await _process(owner, await owner.admit(_records(range(0, 10))))
    with pytest.raises(FencedError):
        await _process(zombie, batch)
    assert zombie.fenced
    assert not zombie.healthy
    assert [v for _, v in broker.records] == [f"v{o}".encode() for o in range(10)]  # once
    assert broker.committed[tp] == 10


async def test_a_batch_admitted_before_a_reassignment_is_refused_at_write() -> None:
    broker = FakeBroker()
    tp = TopicPartition(TOPIC, 0)
    tx, _ = _replica(broker)
    await tx.on_assigned([tp])
    batch = await tx.admit(_records(range(0, 5)))
    await tx.on_revoked([tp])
    broker.committed[tp] = 5  # another replica processed them meanwhile
    await tx.on_assigned([tp])
    with pytest.raises(NotOwnerError):
        await _process(tx, batch)
    assert broker.records == []


async def test_records_of_unowned_partitions_are_not_admitted() -> None:
    tx, _ = _replica(FakeBroker())
    await tx.on_assigned([TopicPartition(TOPIC, 0)])
    admitted = await tx.admit(
        _records(range(0, 3), partition=0) + _records(range(0, 3), partition=4)
    )
    assert {r.partition for r in admitted} == {0}


async def test_the_expected_offset_moves_with_each_transaction() -> None:
    broker = FakeBroker()
    tx, _ = _replica(broker)
    await tx.on_assigned([TopicPartition(TOPIC, 0)])
    await _process(tx, await tx.admit(_records(range(0, 5))))
    assert [r.offset for r in await tx.admit(_records(range(3, 8)))] == [5, 6, 7]


async def test_dead_letters_commit_with_the_outputs_and_the_offset() -> None:
    broker = FakeBroker()
    tx, _ = _replica(broker)
    tp = TopicPartition(TOPIC, 0)
    await tx.on_assigned([tp])
    records = await tx.admit(_records(range(0, 2)))
    bad = FailedRecord(b"v1", None, TOPIC, 0, 1, ValueError("bad"))
    await tx.write(outputs=[OutgoingRecord("out.v1", b"v0")], failed=[bad], offsets={(TOPIC, 0): 2})
    assert [t for t, _ in broker.records] == ["out.v1", "listings.ingested.dlq.v1"]
    assert broker.committed[tp] == 2
    assert len(records) == 2


async def test_revocation_waits_for_the_transaction_in_flight() -> None:
    broker = FakeBroker()
    made: list[FakeProducer] = []
    tx, _ = _replica(broker, made)
    tp = TopicPartition(TOPIC, 0)
    await tx.on_assigned([tp])
    made[0].hold = asyncio.Event()
    writing = asyncio.create_task(_process(tx, await tx.admit(_records(range(0, 3)))))
    await asyncio.sleep(0.01)
    revoking = asyncio.create_task(tx.on_revoked([tp]))
    await asyncio.sleep(0.01)
    assert not revoking.done()
    made[0].hold.set()
    await asyncio.gather(writing, revoking)
    assert broker.committed[tp] == 3
    assert tx.owned == frozenset()


@dataclass
class _Message:
    """The FastStream message a batch arrives in (what the middleware and the ack look at)."""

    consumer: FakeConsumer
    raw_message: tuple[InRecord, ...]
    committed: AckStatus | None = None


async def test_an_abandoned_batch_never_moves_the_groups_offset_back() -> None:
    """Seen in CI: a rebalance revoked a partition and gave it back to the same predictor while
    a batch of it was in flight. The batch was abandoned (not the owner any more), but the
    deferred-commit middleware took it for processed, and its plain OffsetCommit put the group's
    offset back behind transactions committed since: the next owner valued 2,900 listings a
    second time. Offsets of a transactional consumer move with its transactions only."""
    broker = FakeBroker()
    tp = TopicPartition(TOPIC, 0)
    tx, consumer = _replica(broker)
    consumer.assigned = {tp}
    await tx.on_assigned([tp])
    rebalances = [tp]  # the first batch sees its partition revoked and re-assigned mid-batch

    async def handle(records: Any) -> None:
        while rebalances:
            await tx.on_revoked([rebalances.pop()])
            await tx.on_assigned([tp])
        await _process(tx, list(records))

    policy = ErrorPolicy(service="predictor", retry=RetrySettings())
    subscription = Subscription(
        topic=LISTINGS_INGESTED, handle=handle, sink=tx, group_id="g", transactions=tx
    )
    consume = _Consume(subscription=subscription, policy=policy)
    commits = DeferredCommits(interval_s=60)

    async def deliver(records: list[InRecord]) -> _Message:
        message = _Message(consumer, tuple(records))

        async def call_next(msg: Any) -> None:
            await consume(ConsumedBatch(await tx.admit(records), message=msg))

        await commits.middleware(message, context=None).consume_scope(call_next, message)
        return message

    abandoned = await deliver(_records(range(0, 5)))  # admitted before the re-assignment
    assert broker.committed.get(tp) is None
    assert broker.records == []
    redone = await deliver(_records(range(0, 10)))  # the new claim's records, from its seek
    assert broker.committed[tp] == 10
    await commits.flush()
    assert broker.committed[tp] == 10  # not moved back to 5 by a plain commit
    assert abandoned.committed is AckStatus.ACKED  # so FastStream and middleware leave it
    assert redone.committed is AckStatus.ACKED
    assert [v for _, v in broker.records] == [f"v{o}".encode() for o in range(10)]  # once


async def test_a_write_spanning_two_partitions_is_refused() -> None:
    tx, _ = _replica(FakeBroker())
    await tx.on_assigned([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    records = await tx.admit(_records(range(0, 2), 0) + _records(range(0, 2), 1))
    with pytest.raises(ValueError, match="one transaction per input partition"):
        await tx.write(outputs=[], failed=[], offsets=commit_offsets(records))


async def test_records_fetched_while_the_partition_is_claimed_wait_for_the_claim() -> None:
    """A brand-new group has no committed offset to seek back to: records the fetcher returns
    before the claim finished must be processed once it has, not dropped (they would be lost)."""
    broker = FakeBroker()
    made: list[FakeProducer] = []
    tx, consumer = _replica(broker, made)
    tp = TopicPartition(TOPIC, 0)
    consumer.assigned = {tp}  # assigned by the group; the rebalance callback still runs
    started = asyncio.Event()
    release = asyncio.Event()

    class SlowProducer(FakeProducer):
        async def start(self) -> None:
            started.set()
            await release.wait()
            await super().start()

    tx._factory = lambda tid: SlowProducer(broker, tid)
    claiming = asyncio.create_task(tx.on_assigned([tp]))
    await started.wait()
    admitting = asyncio.create_task(tx.admit(_records(range(0, 4))))
    await asyncio.sleep(0.01)
    assert not admitting.done()  # waits for the claim instead of dropping the records
    release.set()
    await claiming
    assert [r.offset for r in await admitting] == [0, 1, 2, 3]


async def test_records_of_a_revoked_partition_are_dropped_without_waiting() -> None:
    tx, consumer = _replica(FakeBroker())
    consumer.assigned = set()
    assert await asyncio.wait_for(tx.admit(_records(range(0, 3))), 1) == []


async def test_a_transactional_producer_retries_a_concurrent_transaction_within_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiokafka's own 20 ms wait after CONCURRENT_TRANSACTIONS would be paid by the first
    transaction of every partition after each commit."""
    monkeypatch.setattr(sender, "BACKOFF_OVERRIDE", 0.02)
    producer = transactional_producer(settings=KafkaSettings(), transactional_id="t", client_id="c")
    await producer.stop()
    assert sender.BACKOFF_OVERRIDE == CONCURRENT_TRANSACTIONS_RETRY_S <= 0.005


def test_the_tuning_fails_loudly_when_aiokafka_drops_the_constant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(sender, "BACKOFF_OVERRIDE")
    with pytest.raises(RuntimeError, match="BACKOFF_OVERRIDE"):
        retry_concurrent_transactions_after(0.002)
