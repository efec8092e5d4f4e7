"""Messaging library on FastStream's in-memory broker: codecs, dead letters, retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from faststream.message import AckStatus
from valora_contracts import LISTINGS_INGESTED, DeadLetter, IngestedListing, dlq_for
from valora_messaging import (
    DeferredCommits,
    InRecord,
    KafkaSettings,
    OutgoingRecord,
    PermanentError,
    ProducerLanes,
    TransientError,
    batch_consumer_options,
    consumer_options,
    create_broker,
    decode_event,
    encode_event,
    publish_dead_letters,
    records_decoder,
    retry_transient,
    to_failed,
)

pytestmark = pytest.mark.unit


def _settings(**overrides: Any) -> KafkaSettings:
    return KafkaSettings(kafka_bootstrap_servers="127.0.0.1:1", **overrides)


def test_consumer_options_are_tuned_for_latency_and_commit_after_processing() -> None:
    options = consumer_options(settings=_settings(), group_id="g")
    assert options["ack_policy"].value == "nack_on_error"
    assert options["decoder"] is records_decoder
    batch = batch_consumer_options(settings=_settings(kafka_batch_max_records=123), group_id="g")
    assert batch["batch"] is True
    assert batch["max_records"] == 123
    assert batch["batch_timeout_ms"] <= 5  # an idle consumer is deaf this long per poll


def test_decode_event_raises_permanent_error_on_bad_input() -> None:
    with pytest.raises(PermanentError, match="IngestedListing"):
        decode_event(b'{"listing_id": 1}', IngestedListing)
    with pytest.raises(PermanentError):
        decode_event(b"\xff not json", IngestedListing)


async def test_dead_letter_helper_publishes_original_bytes_and_error() -> None:
    broker: KafkaBroker = create_broker(settings=_settings(), client_id="test")
    received: list[DeadLetter] = []
    done = asyncio.Event()

    @broker.subscriber(dlq_for(LISTINGS_INGESTED).name)
    async def on_dead_letter(msg: KafkaMessage) -> None:
        received.append(DeadLetter.model_validate_json(msg.body))
        done.set()

    @broker.subscriber(
        LISTINGS_INGESTED.name, **consumer_options(settings=_settings(), group_id="t")
    )
    async def consume(records: Any) -> None:
        (record,) = records  # the decoder hands over the InRecords
        assert isinstance(record, InRecord)
        try:
            decode_event(record.value, IngestedListing)
        except PermanentError as exc:
            await publish_dead_letters(
                broker=broker,
                source=LISTINGS_INGESTED,
                records=[to_failed(record, exc)],
                service="test",
            )

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"\x00garbage", LISTINGS_INGESTED.name)
        await asyncio.wait_for(done.wait(), 5)

    assert len(received) == 1
    assert received[0].original == b"\x00garbage"
    assert received[0].error_type == "PermanentError"
    assert received[0].source_topic == LISTINGS_INGESTED.name
    assert received[0].service == "test"


def test_encode_event_uses_english_names() -> None:
    listing = IngestedListing.model_validate(
        {
            "listing_id": "x",
            "source": "s",
            "ingested_at": "2026-11-28T00:00:00Z",
            "features": {
                "area": 50,
                "quartos": 1,
                "banheiros": 1,
                "idade": 1,
                "garagem": 0,
                "bairro": "Centro",
            },
            "content_hash": "h",
        }
    )
    assert b'"bedrooms":1' in encode_event(listing)


async def test_retry_transient_retries_then_succeeds_and_is_bounded() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("db down")
        return "ok"

    assert await retry_transient(flaky, initial_s=0.001, max_s=0.002) == "ok"
    assert calls == 3

    async def always_down() -> str:
        raise TransientError("still down")

    with pytest.raises(TransientError):
        await retry_transient(always_down, attempts=3, initial_s=0.001, max_s=0.002)


async def test_retry_transient_does_not_retry_permanent_errors() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("bad record")

    with pytest.raises(PermanentError):
        await retry_transient(broken, initial_s=0.001)
    assert calls == 1


# --- producer lanes and deferred commits (with stand-ins for the aiokafka clients) ---


class _FakeProducer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.deliveries: list[asyncio.Future[None]] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Any
    ) -> asyncio.Future[None]:
        self.sent.append((topic, value, key))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.deliveries.append(future)
        return future


async def test_producer_lanes_send_each_call_through_the_least_busy_lane() -> None:
    producers = [_FakeProducer(f"p{n}") for n in range(3)]
    lanes = ProducerLanes(factory=lambda n: producers[n], size=3)  # type: ignore[arg-type,return-value]
    await lanes.start()
    assert all(p.started for p in producers)
    first = await lanes.send(
        [OutgoingRecord(topic="t.v1", value=b"a"), OutgoingRecord("t.v1", b"b")]
    )
    second = await lanes.send([OutgoingRecord(topic="t.v1", value=b"c")])
    third = await lanes.send([OutgoingRecord(topic="t.v1", value=b"d")])
    # one call's records stay together; busy lanes are passed over
    assert [len(p.sent) for p in producers] == [2, 1, 1]
    assert not first.done()
    producers[0].deliveries[0].set_result(None)
    await asyncio.sleep(0)
    assert not first.done()  # waits for every record of the call
    producers[0].deliveries[1].set_result(None)
    await first
    fourth = await lanes.send([OutgoingRecord(topic="t.v1", value=b"e")])
    assert [len(p.sent) for p in producers] == [3, 1, 1]  # lane 0 is free again
    producers[1].deliveries[0].set_exception(RuntimeError("broker down"))
    with pytest.raises(RuntimeError, match="broker down"):
        await second
    for p in producers:
        for d in p.deliveries:
            if not d.done():
                d.set_result(None)
    await asyncio.gather(third, fourth)
    await lanes.stop()
    assert not any(p.started for p in producers)
    with pytest.raises(RuntimeError, match="not started"):
        await lanes.send([OutgoingRecord(topic="t.v1", value=b"x")])


class _FakeConsumer:
    def __init__(self, assigned: set[TopicPartition], fail: BaseException | None = None) -> None:
        self.assigned = assigned
        self.fail = fail
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def _record(topic: str, partition: int, offset: int) -> Any:
    return InRecord(value=b"", key=None, topic=topic, partition=partition, offset=offset)


async def test_deferred_commits_commit_the_highest_processed_offset_of_assigned_partitions() -> (
    None
):
    tp0, tp1, gone = TopicPartition("t.v1", 0), TopicPartition("t.v1", 1), TopicPartition("t.v1", 2)
    consumer = _FakeConsumer({tp0, tp1})
    commits = DeferredCommits(interval_s=60)
    commits.processed(consumer, [_record("t.v1", 0, 4), _record("t.v1", 1, 9)])
    commits.processed(consumer, [_record("t.v1", 0, 7), _record("t.v1", 0, 5)])
    commits.processed(consumer, [_record("t.v1", 2, 3)])  # revoked since
    await commits.flush()
    assert consumer.commits == [{tp0: 8, tp1: 10}]
    await commits.flush()
    assert len(consumer.commits) == 1  # nothing new: no request
    assert gone not in consumer.commits[0]


async def test_deferred_commits_retry_a_failed_commit_and_drop_a_rebalanced_one() -> None:
    from aiokafka.errors import CommitFailedError, KafkaConnectionError

    tp0 = TopicPartition("t.v1", 0)
    consumer = _FakeConsumer({tp0}, fail=KafkaConnectionError("broker away"))
    commits = DeferredCommits(interval_s=60)
    commits.processed(consumer, [_record("t.v1", 0, 1)])
    await commits.flush()
    assert consumer.commits == []
    commits.processed(consumer, [_record("t.v1", 0, 0)])  # an older offset changes nothing
    await commits.flush()
    assert consumer.commits == [{tp0: 2}]
    consumer.fail = CommitFailedError("rebalanced")
    commits.processed(consumer, [_record("t.v1", 0, 2)])
    await commits.flush()
    await commits.flush()
    assert consumer.commits == [{tp0: 2}]  # dropped: the partition's next owner redelivers


class _Message:
    def __init__(self, consumer: Any, records: tuple[Any, ...]) -> None:
        self.consumer = consumer
        self.raw_message = records
        self.committed: AckStatus | None = None


async def test_deferred_commit_middleware_marks_handled_messages_and_leaves_failed_ones() -> None:
    tp0 = TopicPartition("t.v1", 0)
    consumer = _FakeConsumer({tp0})
    commits = DeferredCommits(interval_s=60)
    handled = _Message(consumer, (_record("t.v1", 0, 3),))

    async def ok(msg: Any) -> str:
        return "done"

    async def broken(msg: Any) -> str:
        raise RuntimeError("handler failed")

    middleware = commits.middleware(handled, context=None)
    assert await middleware.consume_scope(ok, handled) == "done"
    assert handled.committed is AckStatus.ACKED  # FastStream will not commit it itself
    failed = _Message(consumer, (_record("t.v1", 0, 4),))
    with pytest.raises(RuntimeError):
        await commits.middleware(failed, context=None).consume_scope(broken, failed)
    assert failed.committed is None  # left to FastStream: nacked, sought back
    await commits.start()
    await commits.close()  # flushes what is pending
    assert consumer.commits == [{tp0: 4}]
    late = _Message(consumer, (_record("t.v1", 0, 5),))
    await commits.middleware(late, context=None).consume_scope(ok, late)
    assert late.committed is None  # closing: FastStream commits synchronously again
