"""valora_messaging.request_reply: the reply subscriber on FastStream's in-memory broker, a fake
predictor behind the producer side, and the client's timeouts, errors and micro-batching."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from valora_contracts import (
    PREDICTIONS_REQUESTS,
    ListingFeatures,
    PredictionInput,
    PredictionInterval,
    PredictionReply,
    PredictionRequested,
    PredictionResult,
    reply_topic,
)
from valora_messaging import InRecord, OutgoingRecord
from valora_messaging.request_reply import (
    REPLY_ERROR_CODES,
    REQUEST_ITEMS,
    ClientLimits,
    InvalidReplyError,
    OverloadedError,
    RemoteError,
    ReplyErrorCode,
    ReplyTimeoutError,
    RequestNotDeliveredError,
    RequestReplyClient,
)
from valora_messaging.request_reply.batcher import MicroBatcher

pytestmark = pytest.mark.unit

REPLIES = reply_topic("unit-test")
SEED = {"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1, "bairro": "X"}
Answer = Callable[[PredictionRequested], PredictionReply | None]


def _features(area: float = 120.5) -> ListingFeatures:
    return ListingFeatures.model_validate({**SEED, "area": area})


def _result(item: PredictionInput) -> PredictionResult:
    area = item.features.area
    return PredictionResult(
        prediction_id="p" + hashlib.blake2b(item.input_id.encode(), digest_size=8).hexdigest(),
        input_id=item.input_id,
        price=area * 1000,
        interval=PredictionInterval(lower_bound=area * 900, upper_bound=area * 1100),
        model_name="m",
        model_version="7",
        run_id="r",
    )


def valued(event: PredictionRequested) -> PredictionReply:
    """What a healthy predictor answers (results in reverse order: matched by input id)."""
    results = [_result(i) for i in reversed(event.items)]
    return PredictionReply(correlation_id=event.correlation_id, results=results)


@dataclass
class FakeKafka:
    """A :class:`RequestSender`: records for the reply topic (the client's probes) reach the
    reply subscriber through the in-memory broker; requests go to a fake predictor, whose
    answer (``answer(event)``, ``None`` for none) is published to the reply topic after
    ``delay_s``."""

    answer: Answer = valued
    delay_s: float = 0.0
    refuse: bool = False  # send() raises
    fail_delivery: bool = False  # send() returns a failed delivery future
    drop_probes: bool = False
    broker: Any = None
    requests: list[PredictionRequested] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def send(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        if self.refuse:
            raise ConnectionError("broker down")
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_delivery:
            delivery.set_exception(ConnectionError("not enough replicas"))
            return delivery
        for record in records:
            if record.topic == PREDICTIONS_REQUESTS.name:
                event = PredictionRequested.model_validate_json(record.value)
                self.requests.append(event)
                self._later(self._reply(event))
            elif not self.drop_probes:
                self._later(self.broker.publish(record.value, record.topic))
        delivery.set_result(None)
        return delivery

    async def _reply(self, event: PredictionRequested) -> None:
        await asyncio.sleep(self.delay_s)
        reply = self.answer(event)
        if reply is not None:
            await self.broker.publish(reply.model_dump_json().encode(), event.reply_to)

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@dataclass
class Harness:
    client: RequestReplyClient
    kafka: FakeKafka
    broker: Any
    dead: list[tuple[InRecord, Exception]]

    async def publish_reply(self, value: bytes) -> None:
        await self.broker.publish(value, REPLIES.name)


@contextlib.asynccontextmanager
async def _harness(
    kafka: FakeKafka, *, timeout_s: float = 5.0, **options: Any
) -> AsyncIterator[Harness]:
    dead: list[tuple[InRecord, Exception]] = []

    async def dead_letter(record: InRecord, error: Exception) -> None:
        dead.append((record, error))

    client = RequestReplyClient(
        sender=kafka, replies=REPLIES, timeout_s=timeout_s, dead_letter=dead_letter, **options
    )
    broker = KafkaBroker()
    client.subscribe(broker)
    async with TestKafkaBroker(broker) as test_broker:
        kafka.broker = test_broker
        await client.start()
        try:
            yield Harness(client, kafka, test_broker, dead)
        finally:
            await client.stop()


@pytest.fixture
async def rr() -> AsyncIterator[Harness]:
    async with _harness(FakeKafka()) as harness:
        yield harness


async def test_a_request_is_answered_through_the_reply_subscriber(rr: Harness) -> None:
    assert await rr.client.is_ready()
    result = await rr.client.predict_one(_features(80.0), listing_id="L1")
    (request,) = rr.kafka.requests
    assert request.reply_to == REPLIES.name
    assert request.source == "sync"
    assert request.items[0].listing_id == "L1"
    assert result.input_id == request.items[0].input_id
    assert result.price == 80_000.0
    assert rr.client.in_flight == 0
    assert rr.client.stats.bad == 0
    assert rr.client.stats.matched == 2  # the start-up probe and the answer


async def test_concurrent_single_calls_travel_as_few_requests() -> None:
    async with _harness(FakeKafka(delay_s=0.01), limits=ClientLimits(max_inflight=1)) as rr:
        areas = [50.0 + i for i in range(60)]
        results = await asyncio.gather(*(rr.client.predict_one(_features(a)) for a in areas))
        assert [r.price for r in results] == [a * 1000 for a in areas]  # each gets its own
        sizes = [len(r.items) for r in rr.kafka.requests]
        assert sum(sizes) == 60
        assert len(sizes) <= 3  # one in flight at a time: the rest queue and leave together


async def test_predict_many_splits_into_requests_and_keeps_order(rr: Harness) -> None:
    houses = [_features(10.0 + i) for i in range(REQUEST_ITEMS * 2 + 20)]
    results = await rr.client.predict_many(houses)
    assert [len(r.items) for r in rr.kafka.requests] == [REQUEST_ITEMS, REQUEST_ITEMS, 20]
    assert [r.price for r in results] == [h.area * 1000 for h in houses]


async def test_no_reply_is_a_timeout_and_the_late_reply_is_dropped() -> None:
    async with _harness(FakeKafka(delay_s=0.3), timeout_s=0.05) as rr:
        with pytest.raises(ReplyTimeoutError) as timed_out:
            await rr.client.predict_many([_features()])
        assert timed_out.value.code == "timeout"
        assert rr.client.in_flight == 0
        await rr.kafka.stop()  # the late reply arrives
        assert rr.client.stats.unmatched == 1
        assert rr.client.stats.bad == 0
        assert rr.dead == []


async def test_a_failed_delivery_fails_the_waiter_without_waiting_for_the_timeout() -> None:
    async with _harness(FakeKafka(), timeout_s=60.0) as rr:
        rr.kafka.fail_delivery = True
        with pytest.raises(RequestNotDeliveredError) as failed:
            await asyncio.wait_for(rr.client.predict_one(_features()), 10.0)
        assert failed.value.code == "not_delivered"
        assert rr.client.in_flight == 0
        rr.kafka.fail_delivery, rr.kafka.refuse = False, True
        with pytest.raises(RequestNotDeliveredError):
            await rr.client.predict_many([_features()])
        with pytest.raises(RequestNotDeliveredError):
            await rr.client.send_batch(job_id="j", items=[PredictionInput(features=_features())])


def _failing(**fields: Any) -> Answer:
    def answer(event: PredictionRequested) -> PredictionReply:
        return PredictionReply(correlation_id=event.correlation_id, **fields)

    return answer


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (_failing(error="no champion model is served", error_code="no_champion"), "no_champion"),
        (_failing(error="no champion: shape", error_code="prediction_failed"), "prediction_failed"),
        # a reply without a code is never read by its text
        (_failing(error="no champion model is served"), "prediction_failed"),
        (_failing(results=[]), "invalid_reply"),  # answers none of the inputs
    ],
    ids=["no_champion", "prediction_failed", "text_only", "short"],
)
async def test_reply_errors_raise_by_their_code(reply: Answer, code: ReplyErrorCode) -> None:
    async with _harness(FakeKafka(answer=reply)) as rr:
        with pytest.raises((RemoteError, InvalidReplyError)) as failed:
            await rr.client.predict_one(_features())
        assert failed.value.code == code


async def test_bad_replies_are_counted_logged_and_dead_lettered_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending: list[PredictionRequested] = []
    asked = asyncio.Event()

    def hold(event: PredictionRequested) -> None:
        pending.append(event)
        asked.set()

    async with _harness(FakeKafka(answer=hold)) as rr:
        call = asyncio.ensure_future(rr.client.predict_one(_features()))
        await asyncio.wait_for(asked.wait(), 5.0)
        cid = pending[0].correlation_id
        with caplog.at_level(logging.WARNING, logger="valora_messaging.request_reply.inbox"):
            await rr.publish_reply(b"\x00not json")
            await rr.publish_reply(b'{"results": []}')
            await rr.publish_reply(b'{"correlation_id": "%s", "results": "x"}' % cid.encode())
        with pytest.raises(InvalidReplyError):
            await call  # the waiter learns at once that its reply is bad
        assert rr.client.stats.bad == 3
        assert [r.value for r, _ in rr.dead][:2] == [b"\x00not json", b'{"results": []}']
        assert len(rr.dead) == 3
        assert all(isinstance(e, InvalidReplyError) for _, e in rr.dead)
        assert sum("bad reply" in r.getMessage() for r in caplog.records) == 3


async def test_a_failing_dead_letter_hook_does_not_break_the_subscriber() -> None:
    async def broken(record: InRecord, error: Exception) -> None:
        raise RuntimeError("dlq down")

    broker = KafkaBroker()
    client = RequestReplyClient(
        sender=FakeKafka(), replies=REPLIES, timeout_s=1.0, dead_letter=broken
    )
    client.subscribe(broker)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"garbage", REPLIES.name)  # would raise here if it escaped
    assert client.stats.bad == 1


async def test_batch_chunks_are_published_without_waiting_for_replies(rr: Harness) -> None:
    items = [PredictionInput(input_id=f"j:{i}", features=_features()) for i in range(3)]
    await rr.client.send_batch(job_id="j", items=items)
    (request,) = rr.kafka.requests
    assert (request.source, request.batch_job_id) == ("batch", "j")
    assert [i.input_id for i in request.items] == ["j:0", "j:1", "j:2"]
    assert rr.client.in_flight == 0
    await rr.kafka.stop()
    assert rr.client.stats.unmatched == 1  # its reply comes back to nobody


async def test_start_fails_when_the_reply_topic_never_delivers() -> None:
    broker = KafkaBroker()
    kafka = FakeKafka(drop_probes=True)
    client = RequestReplyClient(sender=kafka, replies=REPLIES, timeout_s=1.0, probe_timeout_s=0.2)
    client.subscribe(broker)
    async with TestKafkaBroker(broker) as test_broker:
        kafka.broker = test_broker
        with pytest.raises(ReplyTimeoutError):
            await client.start()
    assert not await client.is_ready()
    with pytest.raises(RuntimeError, match="not started"):
        await client.predict_one(_features())


def test_every_error_code_is_listed() -> None:
    assert set(REPLY_ERROR_CODES) == set(get_args(ReplyErrorCode))
    assert set(get_args(ReplyErrorCode)) >= {"timeout", "not_delivered", "no_champion"}


async def test_micro_batcher_fails_a_caller_whose_result_is_missing() -> None:
    async def send(items: Sequence[PredictionInput]) -> list[PredictionResult]:
        return [_result(i) for i in items[1:]]  # drops the first input

    batcher = MicroBatcher(send=send, max_items=10)
    await batcher.start()
    try:
        first, second = await asyncio.gather(
            batcher.submit(PredictionInput(features=_features(1.0))),
            batcher.submit(PredictionInput(features=_features(2.0))),
            return_exceptions=True,
        )
    finally:
        await batcher.stop()
    assert isinstance(first, InvalidReplyError)
    assert isinstance(second, PredictionResult)
    assert second.price == 2000.0


def test_public_surface_is_pinned() -> None:
    import valora_messaging
    from valora_messaging import request_reply

    assert set(request_reply.__all__) == {
        "REPLY_ERROR_CODES", "REQUEST_ITEMS", "ClientLimits", "DeadLetterHook",
        "InvalidReplyError", "OverloadedError", "RemoteError", "ReplyDeadLetters",
        "ReplyErrorCode", "ReplyStats", "ReplyTimeoutError",
        "RequestNotDeliveredError", "RequestReplyClient", "RequestReplyError", "RequestSender",
    }  # fmt: skip
    assert all(hasattr(request_reply, name) for name in request_reply.__all__)
    assert valora_messaging.RequestReplyClient is RequestReplyClient


async def test_a_full_micro_batch_queue_sheds_at_once_and_the_queued_calls_still_finish() -> None:
    """Past ``max_queued`` waiting calls, a call fails at once (nothing sent); what was queued
    is answered; the queue never holds more than its bound."""
    limits = ClientLimits(max_items=2, max_inflight=1, max_queued=4)
    async with _harness(FakeKafka(delay_s=0.05), limits=limits) as rr:
        calls = [asyncio.ensure_future(rr.client.predict_one(_features(i + 1))) for i in range(12)]
        await asyncio.sleep(0)  # every call reaches the batcher
        results = await asyncio.gather(*calls, return_exceptions=True)
    shed = [r for r in results if isinstance(r, OverloadedError)]
    answered = [r for r in results if isinstance(r, PredictionResult)]
    assert len(shed) + len(answered) == 12
    assert len(shed) >= 6  # 12 arrive at once: 4 may wait, 2 may be in flight
    assert all(s.code == "overloaded" for s in shed)
    assert sum(len(r.items) for r in rr.kafka.requests) == len(answered)


async def test_batch_calls_are_bounded_per_call_and_in_number() -> None:
    limits = ClientLimits(batch_concurrency=2, max_batch_calls=1)
    kafka = FakeKafka(delay_s=0.05)
    async with _harness(kafka, limits=limits) as rr:
        houses = [_features(10.0 + i) for i in range(REQUEST_ITEMS * 5)]
        first = asyncio.ensure_future(rr.client.predict_many(houses))
        await asyncio.sleep(0.01)
        assert rr.client.in_flight == 2  # 5 chunks, 2 at a time
        with pytest.raises(OverloadedError):
            await rr.client.predict_many([_features()])  # a second call is shed at once
        results = await first
    assert [r.price for r in results] == [h.area * 1000 for h in houses]
    assert len(kafka.requests) == 5
