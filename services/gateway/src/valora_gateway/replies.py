"""Request-reply over Kafka: one reply topic per gateway instance, futures by correlation id.

FastStream 0.7 has no request-reply for a real Kafka broker, so the gateway matches replies
itself: :meth:`ReplyRouter.request` registers a future under the request's correlation id,
publishes, and waits (with a timeout); the reply subscriber hands each reply to
:meth:`ReplyRouter.on_reply`. Replies nobody waits for (batch-job chunks, late replies after a
timeout, other instances' leftovers) are dropped after reading only their correlation id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from valora_contracts import PredictionReply, PredictionRequested
from valora_messaging import encode_event

from valora_gateway.errors import BrokerUnavailableError, ReplyTimeoutError

__all__ = ["Publish", "ReplyRouter"]

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bytes], Awaitable[Any]]
"""``publish(topic, value, key)``: sends without waiting for the ack; may return the delivery
future (awaited in the background: a failed delivery fails the waiting request)."""


class ReplyRouter:
    """Correlation id -> future of the reply."""

    def __init__(self, *, publish: Publish, requests_topic: str, reply_topic: str) -> None:
        self._publish = publish
        self._requests_topic = requests_topic
        self.reply_topic = reply_topic
        self._waiting: dict[str, asyncio.Future[PredictionReply]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def expect(self, correlation_id: str) -> asyncio.Future[PredictionReply]:
        """A future for the reply with ``correlation_id`` (forgotten once done)."""
        future: asyncio.Future[PredictionReply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        future.add_done_callback(lambda _: self._waiting.pop(correlation_id, None))
        return future

    async def send(self, event: PredictionRequested) -> None:
        """Publish a request whose reply nobody waits for (batch-job chunks); awaits the ack."""
        delivery = await self._publish(
            self._requests_topic, encode_event(event), event.correlation_id.encode()
        )
        if isinstance(delivery, asyncio.Future):
            try:
                await delivery
            except Exception as exc:
                raise BrokerUnavailableError(f"could not publish the request: {exc}") from exc

    async def request(self, event: PredictionRequested, *, timeout_s: float) -> PredictionReply:
        """Publish ``event`` and wait for its reply (:class:`ReplyTimeoutError` after
        ``timeout_s``, :class:`BrokerUnavailableError` if Kafka refuses it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PredictionReply] = loop.create_future()
        cid = event.correlation_id
        self._waiting[cid] = future
        try:
            try:
                delivery = await self._publish(
                    self._requests_topic, encode_event(event), cid.encode()
                )
            except Exception as exc:
                raise BrokerUnavailableError(f"could not publish the request: {exc}") from exc
            if isinstance(delivery, asyncio.Future):
                delivery.add_done_callback(lambda d: self._delivered(cid, d))
            try:
                return await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                raise ReplyTimeoutError(
                    f"the predictor did not answer within {timeout_s:g} s"
                ) from None
        finally:
            self._waiting.pop(cid, None)

    def _delivered(self, cid: str, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled() or delivery.exception() is None:
            return
        future = self._waiting.get(cid)
        if future is not None and not future.done():
            error = delivery.exception()
            future.set_exception(BrokerUnavailableError(f"could not publish the request: {error}"))

    def on_reply(self, value: bytes) -> bool:
        """Resolve the waiting request of this reply; False if nobody waits for it."""
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            logger.warning("undecodable reply dropped", extra={"size": len(value)})
            return False
        cid = data.get("correlation_id") if isinstance(data, dict) else None
        future = self._waiting.get(cid) if isinstance(cid, str) else None
        if future is None or future.done():
            return False
        try:
            future.set_result(PredictionReply.model_validate(data))
        except ValueError as exc:
            future.set_exception(BrokerUnavailableError(f"invalid reply from predictor: {exc}"))
        return True
