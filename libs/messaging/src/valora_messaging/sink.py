"""Where a handled batch goes: outputs, dead letters and (for transactions) source offsets.

:class:`TransactionalSink` writes a batch's outputs, its dead letters and the consumer offsets in
one Kafka transaction (exactly-once consume-transform-produce for ``read_committed`` readers).
:class:`BrokerSink` publishes through the FastStream broker and awaits every acknowledgement
before returning, so offsets are committed (after the handler returns) only once the outputs
are durable: at-least-once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from faststream.kafka import KafkaBroker
from valora_contracts import TopicSpec

from valora_messaging.dlq import FailedRecord, dead_letter_record
from valora_messaging.errors import MessagingError
from valora_messaging.publishing import OutgoingRecord, publish_many
from valora_messaging.settings import KafkaSettings

__all__ = [
    "BatchSink",
    "BrokerSink",
    "SinkError",
    "TransactionalSink",
    "create_sink",
    "transactional_producer",
]


class SinkError(MessagingError):
    """The batch could not be written; the consumer will see it again."""


class BatchSink(Protocol):
    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def healthy(self) -> bool: ...


class BrokerSink:
    """At-least-once: publish everything, await every acknowledgement, then return."""

    def __init__(self, *, broker: KafkaBroker, source: TopicSpec, service: str) -> None:
        self._broker = broker
        self._source = source
        self._service = service

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def healthy(self) -> bool:
        return True

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None:
        letters = [
            dead_letter_record(record=r, source=self._source, service=self._service) for r in failed
        ]
        await publish_many(broker=self._broker, records=[*outputs, *letters])


class TransactionalSink:
    """Exactly-once: outputs, dead letters and source offsets commit in one transaction.

    A crash before the commit aborts everything (the restarted producer, with the same
    ``transactional_id``, fences the old one and aborts its open transaction); the records are
    then consumed again from the last committed offsets. Readers must use ``read_committed``.
    """

    def __init__(
        self,
        *,
        producer_factory: Callable[[], AIOKafkaProducer],
        group_id: str,
        source: TopicSpec,
        service: str,
    ) -> None:
        self._factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._group_id = group_id
        self._source = source
        self._service = service
        self._lock = asyncio.Lock()
        self.fenced = False

    @property
    def healthy(self) -> bool:
        return not self.fenced

    async def start(self) -> None:
        """Create (inside the running loop) and start the producer; fences older instances."""
        producer = self._factory()
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None:
        if self.fenced:
            raise SinkError("producer was fenced by a newer instance with the same id")
        producer = self._producer
        if producer is None:
            raise SinkError("transactional sink is not started")
        letters = [
            dead_letter_record(record=r, source=self._source, service=self._service) for r in failed
        ]
        async with self._lock:
            try:
                async with producer.transaction():
                    for out in (*outputs, *letters):
                        headers = [(k, v.encode()) for k, v in out.headers.items()] or None
                        await producer.send(out.topic, out.value, key=out.key, headers=headers)
                    if offsets:
                        await producer.send_offsets_to_transaction(
                            {TopicPartition(t, p): o for (t, p), o in offsets.items()},
                            self._group_id,
                        )
            except ProducerFenced as exc:
                self.fenced = True
                raise SinkError(f"transactional producer fenced: {exc}") from exc
            except KafkaError as exc:
                raise SinkError(f"transaction aborted: {exc!r}") from exc


def transactional_producer(
    *, settings: KafkaSettings, transactional_id: str, client_id: str
) -> AIOKafkaProducer:
    """An idempotent transactional producer tuned like the broker's."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-{client_id}-tx",
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_size,
        request_timeout_ms=30_000,
        # A new transaction right after a commit is often refused with CONCURRENT_TRANSACTIONS
        # until the markers are written; retry quickly (the 100 ms default adds to every batch).
        retry_backoff_ms=10,
    )


def create_sink(
    *,
    settings: KafkaSettings,
    broker: KafkaBroker,
    source: TopicSpec,
    service: str,
    group_id: str,
    exactly_once: bool,
    transactional_id: str,
) -> BatchSink:
    """A transactional (exactly-once) or broker (at-least-once) sink for a batch consumer."""
    if not exactly_once:
        return BrokerSink(broker=broker, source=source, service=service)
    return TransactionalSink(
        producer_factory=lambda: transactional_producer(
            settings=settings, transactional_id=transactional_id, client_id=service
        ),
        group_id=group_id,
        source=source,
        service=service,
    )
