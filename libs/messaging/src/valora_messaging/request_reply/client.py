"""Request-reply with the predictor over Kafka: the one object a caller constructs.

FastStream 0.7 has no request-reply for a real Kafka broker, so replies are matched here: a
request registers a future under its correlation id, is published through the producer lanes,
and waits (with a timeout) for the reply that the reply-topic subscriber hands over. Single
inputs are micro-batched; many inputs go as concurrent requests of at most
:data:`REQUEST_ITEMS`; batch-job chunks are published without waiting for a reply. Every queue
is bounded (:class:`~valora_messaging.request_reply.limits.ClientLimits`): past a bound a call
is shed at once with ``OverloadedError``.

Lifecycle: construct (``from_settings`` also registers the reply subscriber on the broker),
start the broker, then ``await client.start()`` (starts the producers and returns once a probe
came back through the reply topic, so no reply can be missed), and ``await client.stop()``
before stopping the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from valora_contracts import (
    PREDICTIONS_REQUESTS,
    ListingFeatures,
    PredictionInput,
    PredictionReply,
    PredictionRequested,
    PredictionResult,
    TopicSpec,
    new_id,
    reply_topic,
)
from valora_observability.tracing import current_trace_id

from valora_messaging.batch import InRecord, records_decoder
from valora_messaging.codec import encode_event
from valora_messaging.lanes import ProducerLanes
from valora_messaging.publishing import OutgoingRecord
from valora_messaging.request_reply.batcher import MicroBatcher
from valora_messaging.request_reply.correlation import CorrelationMap
from valora_messaging.request_reply.errors import (
    InvalidReplyError,
    OverloadedError,
    ReplyTimeoutError,
    RequestNotDeliveredError,
    remote_error,
)
from valora_messaging.request_reply.inbox import DeadLetterHook, ReplyInbox, ReplyStats
from valora_messaging.request_reply.limits import ClientLimits
from valora_messaging.settings import KafkaSettings
from valora_messaging.tracing import consume_span

__all__ = ["REQUEST_ITEMS", "RequestReplyClient", "RequestSender"]

logger = logging.getLogger(__name__)

REQUEST_ITEMS = 500
"""Most inputs in one ``PredictionRequested`` (keeps requests and replies well under Kafka's
default 1 MB message limit)."""


class RequestSender(Protocol):
    """Hands records to Kafka (:class:`~valora_messaging.ProducerLanes` is the real one)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        """Returns once the records are queued; the future completes on acknowledgement."""
        ...


class RequestReplyClient:
    """Values houses through the predictor: ``predict_one``, ``predict_many``, ``send_batch``."""

    def __init__(
        self,
        *,
        sender: RequestSender,
        replies: TopicSpec,
        timeout_s: float,
        limits: ClientLimits = ClientLimits(),  # noqa: B008 - frozen, shared safely
        requests: TopicSpec = PREDICTIONS_REQUESTS,
        dead_letter: DeadLetterHook | None = None,
        probe_timeout_s: float = 30.0,
    ) -> None:
        self._sender = sender
        self._replies = replies
        self._requests = requests
        self._timeout = timeout_s
        self._probe_timeout = probe_timeout_s
        self._waiting: CorrelationMap[PredictionReply] = CorrelationMap()
        self._inbox = ReplyInbox(waiting=self._waiting, dead_letter=dead_letter)
        self._limits = limits
        self._batcher = MicroBatcher(
            send=self._request,
            max_items=limits.max_items,
            window_s=limits.window_s,
            max_inflight=limits.max_inflight,
            max_queued=limits.max_queued,
        )
        self._batch_calls = 0
        self._ready = False

    @classmethod
    def from_settings(
        cls,
        *,
        settings: KafkaSettings,
        broker: KafkaBroker,
        instance_id: str,
        timeout_s: float,
        limits: ClientLimits = ClientLimits(),  # noqa: B008 - frozen, shared safely
        client_id: str = "gateway",
        dead_letter: DeadLetterHook | None = None,
    ) -> RequestReplyClient:
        """A client sending through ``settings.kafka_producer_lanes`` producers, whose reply
        subscriber (topic ``reply_topic(instance_id)``) is registered on ``broker``."""
        lanes = ProducerLanes.from_settings(
            settings=settings, client_id=client_id, size=settings.kafka_producer_lanes
        )
        client = cls(
            sender=lanes,
            replies=reply_topic(instance_id),
            timeout_s=timeout_s,
            limits=limits,
            dead_letter=dead_letter,
        )
        client.subscribe(broker, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)
        return client

    @property
    def reply_topic(self) -> str:
        return self._replies.name

    @property
    def topics(self) -> tuple[TopicSpec, ...]:
        """The topics this client uses (create them before :meth:`start`)."""
        return (self._requests, self._replies)

    @property
    def in_flight(self) -> int:
        """Requests waiting for their reply."""
        return len(self._waiting)

    @property
    def stats(self) -> ReplyStats:
        return self._inbox.stats

    def subscribe(self, broker: KafkaBroker, *, fetch_max_wait_ms: int = 100) -> None:
        """Register the reply subscriber: no consumer group (each instance reads only its own
        topic), from the latest offset, acknowledged on receipt (a reply is useful only to a
        waiter that exists now)."""
        broker.subscriber(
            self._replies.name,
            auto_offset_reset="latest",
            fetch_max_wait_ms=fetch_max_wait_ms,
            ack_policy=AckPolicy.ACK_FIRST,
            decoder=records_decoder,
            isolation_level="read_committed",
        )(self.handle_replies)

    async def handle_replies(self, records: Any) -> None:
        """The reply subscriber: ``records`` is the ``list[InRecord]`` of one poll."""
        batch: Sequence[InRecord] = records
        with consume_span(batch, topic=self._replies.name, group=None):
            await self._inbox.handle(batch)

    async def start(self) -> None:
        """Start the producers, wait until the reply topic delivers, start micro-batching."""
        await self._sender.start()
        await self._await_own_reply()
        await self._batcher.start()
        self._ready = True
        logger.info("request-reply client started", extra={"reply_topic": self._replies.name})

    async def stop(self) -> None:
        """Stop micro-batching (sent batches finish) and flush the producers."""
        self._ready = False
        await self._batcher.stop()
        await self._sender.stop()

    async def is_ready(self) -> bool:
        """True between a completed :meth:`start` and :meth:`stop` (a readiness check)."""
        return self._ready

    async def predict_one(
        self, features: ListingFeatures, *, listing_id: str | None = None
    ) -> PredictionResult:
        """Value one house (micro-batched with concurrent calls)."""
        return await self._batcher.submit(PredictionInput(features=features, listing_id=listing_id))

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        """One request per :data:`REQUEST_ITEMS` houses (at most ``batch_concurrency`` in
        flight), answers in order; shed at once when ``max_batch_calls`` calls are running."""
        if self._batch_calls >= self._limits.max_batch_calls:
            raise OverloadedError(f"{self._batch_calls} batch calls running: shedding load")
        self._batch_calls += 1
        try:
            return await self._many(houses)
        finally:
            self._batch_calls -= 1

    async def _many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        items = [PredictionInput(features=f) for f in houses]
        chunks = [items[i : i + REQUEST_ITEMS] for i in range(0, len(items), REQUEST_ITEMS)]
        slots = asyncio.Semaphore(self._limits.batch_concurrency)

        async def bounded(chunk: list[PredictionInput]) -> list[PredictionResult]:
            async with slots:
                return await self._request(chunk)

        answered = await asyncio.gather(*(bounded(c) for c in chunks))
        by_id = {r.input_id: r for results in answered for r in results}
        return [by_id[i.input_id] for i in items]

    async def send_batch(self, *, job_id: str, items: Sequence[PredictionInput]) -> None:
        """Publish one chunk of a batch job and wait for Kafka's acknowledgement (its replies
        are not awaited: completion is read from the stored predictions)."""
        event = self._event(items, source="batch", batch_job_id=job_id)
        await self._publish(self._requests.name, encode_event(event), event.correlation_id)

    def _event(self, items: Sequence[PredictionInput], **fields: Any) -> PredictionRequested:
        # While tracing is on, the event's trace id is the OpenTelemetry trace it travels in.
        trace_id = current_trace_id() or new_id()
        return PredictionRequested(
            reply_to=self._replies.name, items=list(items), trace_id=trace_id, **fields
        )

    async def _request(self, items: Sequence[PredictionInput]) -> list[PredictionResult]:
        event = self._event(items, source="sync")
        reply = await self._exchange(self._requests.name, event.correlation_id, encode_event(event))
        error = remote_error(reply)
        if error is not None:
            raise error
        if len(reply.results) != len(items):
            raise InvalidReplyError(
                f"the predictor answered {len(reply.results)} of {len(items)} inputs"
            )
        return reply.results

    async def _exchange(self, topic: str, cid: str, value: bytes) -> PredictionReply:
        """Publish ``value`` and wait for the reply to ``cid``."""
        future = self._waiting.expect(cid)
        try:
            delivery = await self._send(topic, value, cid)
            delivery.add_done_callback(partial(self._delivered, cid))
            try:
                return await asyncio.wait_for(future, self._timeout)
            except TimeoutError:
                raise ReplyTimeoutError(
                    f"no reply within {self._timeout:g} s (correlation id {cid})"
                ) from None
        finally:
            future.cancel()  # no-op when done; forgets the waiter otherwise

    async def _send(self, topic: str, value: bytes, cid: str) -> asyncio.Future[None]:
        record = OutgoingRecord(topic=topic, value=value, key=cid.encode())
        try:
            return await self._sender.send([record])
        except Exception as exc:
            raise RequestNotDeliveredError(f"could not publish the request: {exc}") from exc

    async def _publish(self, topic: str, value: bytes, cid: str) -> None:  # and await the ack
        delivery = await self._send(topic, value, cid)
        try:
            await delivery
        except Exception as exc:
            raise RequestNotDeliveredError(f"could not publish the request: {exc}") from exc

    def _delivered(self, cid: str, delivery: asyncio.Future[None]) -> None:
        """A failed delivery fails the waiting request at once (not after the timeout)."""
        if delivery.cancelled() or delivery.exception() is None:
            return
        error = RequestNotDeliveredError(f"could not publish the request: {delivery.exception()}")
        self._waiting.fail(cid, error)

    async def _await_own_reply(self) -> None:
        """Publish probe replies to our own topic until one comes back: from then on the reply
        consumer is positioned and no reply to a real request can be missed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._probe_timeout
        while loop.time() < deadline:
            probe = PredictionReply(correlation_id=f"probe-{new_id()}", error="probe")
            waiter = self._waiting.expect(probe.correlation_id)
            try:
                await self._publish(self._replies.name, encode_event(probe), probe.correlation_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, min(2.0, self._probe_timeout))
                    return
            finally:
                waiter.cancel()
        raise ReplyTimeoutError(f"reply topic {self._replies.name} delivered no probe")
