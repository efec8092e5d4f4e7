"""Where a handled batch goes: outputs, dead letters and (for transactions) source offsets.

:class:`BrokerSink` publishes through the FastStream broker and awaits every acknowledgement
before returning, so offsets are committed (after the handler returns) only once the outputs
are durable: at-least-once. Exactly-once consumers use
:class:`~valora_messaging.fencing.PartitionTransactions`, which writes each input partition's
outputs, dead letters and next offset in one transaction of that partition's producer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.producer import sender as aiokafka_sender
from faststream.kafka import KafkaBroker
from valora_contracts import TopicSpec

from valora_messaging.dlq import FailedRecord, dead_letter_record
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.publishing import OutgoingRecord, publish_many
from valora_messaging.security import kafka_security
from valora_messaging.settings import KafkaSettings

__all__ = ["CONCURRENT_TRANSACTIONS_RETRY_S", "BatchSink", "BrokerSink", "transactional_producer"]

CONCURRENT_TRANSACTIONS_RETRY_S = 0.002
"""How long a transaction begun right after its producer's last commit waits before it asks
again to add its first partition. The coordinator refuses that request with
CONCURRENT_TRANSACTIONS until the last commit's markers are written (1-2 ms on a local broker);
aiokafka then waits a fixed 20 ms (``BACKOFF_OVERRIDE``, after KAFKA-5477), not
``retry_backoff_ms``. Measured on the dev broker: a 300-record transaction took 30 ms with the
20 ms wait and 7 ms with 1 ms, and every consumer with transactions begins one per partition
per batch."""


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

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        source: TopicSpec,
        service: str,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self._broker = broker
        self._source = source
        self._service = service
        self._metrics = metrics

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
        if failed and self._metrics is not None:
            self._metrics.dead_lettered(failed)


def transactional_producer(
    *, settings: KafkaSettings, transactional_id: str, client_id: str
) -> AIOKafkaProducer:
    """An idempotent transactional producer tuned like the broker's."""
    retry_concurrent_transactions_after(CONCURRENT_TRANSACTIONS_RETRY_S)
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-{client_id}-tx",
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_size,
        request_timeout_ms=30_000,
        retry_backoff_ms=10,  # other retriable refusals (the 100 ms default adds to a batch)
        **kafka_security(settings),
    )


def retry_concurrent_transactions_after(seconds: float) -> None:
    """Set aiokafka's wait before it retries adding the first partition of a transaction
    refused with CONCURRENT_TRANSACTIONS (see :data:`CONCURRENT_TRANSACTIONS_RETRY_S`). It is
    a module constant of aiokafka's sender, read at every retry: fails loudly if an aiokafka
    upgrade removed it, rather than silently bringing the 20 ms back."""
    if not isinstance(getattr(aiokafka_sender, "BACKOFF_OVERRIDE", None), float):
        raise RuntimeError("aiokafka.producer.sender.BACKOFF_OVERRIDE is gone: review this tuning")
    aiokafka_sender.BACKOFF_OVERRIDE = seconds
