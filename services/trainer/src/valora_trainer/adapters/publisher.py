"""Publishing the trainer's events on Kafka.

The run (:mod:`valora_trainer.service_layer.run`) is synchronous: it runs in the runner's
thread or in a Kubeflow step process, and publishes through :class:`Publisher`.
:class:`BrokerPublisher` is the service's broker on its event loop; :class:`ThreadPublisher`
lets the run's thread publish through it; :class:`StepPublisher`
connects a broker for one publication (a step process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from faststream.kafka import KafkaBroker
from valora_messaging import KafkaSettings, OutgoingRecord, create_broker, publish_many

__all__ = ["AsyncPublisher", "BrokerPublisher", "Publisher", "StepPublisher", "ThreadPublisher"]


class Publisher(Protocol):
    """Publishes records and returns once the broker acknowledged all of them."""

    def publish(self, records: Sequence[OutgoingRecord]) -> None: ...


class AsyncPublisher(Protocol):
    """:class:`Publisher` on an event loop."""

    async def publish(self, records: Sequence[OutgoingRecord]) -> None: ...


class BrokerPublisher:
    """The service's broker (connected by FastStream while the app runs)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        await publish_many(broker=self._broker, records=records)


class ThreadPublisher:
    """Publishes from a worker thread through an :class:`AsyncPublisher` on ``loop`` (waits for
    the acknowledgements, at most ``timeout_s``)."""

    def __init__(
        self, publisher: AsyncPublisher, loop: asyncio.AbstractEventLoop, *, timeout_s: float
    ) -> None:
        self._publisher = publisher
        self._loop = loop
        self._timeout_s = timeout_s

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._publisher.publish(records), self._loop)
        future.result(timeout=self._timeout_s)


class StepPublisher:
    """Connects a broker, publishes, disconnects: one publication in a short-lived process."""

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        asyncio.run(self._publish(records))

    async def _publish(self, records: Sequence[OutgoingRecord]) -> None:
        broker = create_broker(settings=self._settings, client_id=self._client_id)
        await broker.connect()
        try:
            await publish_many(broker=broker, records=records)
        finally:
            await broker.stop()
