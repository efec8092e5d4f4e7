"""Where the predictor's results go (Kafka), and its Prometheus metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from faststream.kafka import KafkaBroker
from valora_contracts import TopicSpec
from valora_messaging import (
    ConsumerMetrics,
    FailedRecord,
    KnownTopics,
    OutgoingRecord,
    ProducerLanes,
    publish_dead_letters,
    publish_many,
)
from valora_observability import ServiceMetrics

from valora_predictor.store import PredictionRow

__all__ = ["BrokerOutput", "Output", "PredictorMetrics"]


class Output(Protocol):
    """Where results go: replies and events (awaited until durable), and dead letters."""

    async def reply(self, records: Sequence[OutgoingRecord]) -> None:
        """Replies (with their requests' events): latency first."""

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Events of the stream: throughput first."""

    async def dead_letter(self, *, source: TopicSpec, records: Sequence[FailedRecord]) -> None: ...

    async def existing_topics(self, names: set[str]) -> set[str]:
        """The reply topics among ``names`` that exist."""
        ...


class BrokerOutput:
    """:class:`Output` to Kafka. Replies go through producer lanes, so a request's reply never
    waits for another consumer's produce request to be acknowledged; stream events and dead
    letters through the broker's one producer, where concurrent chunks' records coalesce into
    fewer, larger produce requests."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        lanes: ProducerLanes,
        topics: KnownTopics,
        service: str,
        metrics: ConsumerMetrics,
    ) -> None:
        self._broker = broker
        self._lanes = lanes
        self._topics = topics
        self._service = service
        self._metrics = metrics

    async def reply(self, records: Sequence[OutgoingRecord]) -> None:
        await self._lanes.publish(records)

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if records:
            await publish_many(broker=self._broker, records=records)

    async def dead_letter(self, *, source: TopicSpec, records: Sequence[FailedRecord]) -> None:
        if records:
            await publish_dead_letters(
                broker=self._broker, source=source, records=records, service=self._service
            )
            self._metrics.dead_lettered(records)

    async def existing_topics(self, names: set[str]) -> set[str]:
        return await self._topics.existing(names)


class PredictorMetrics:
    """Prometheus metrics of the predictor, on the service's registry."""

    def __init__(self, *, metrics: ServiceMetrics) -> None:
        self.base = metrics
        self.predictions = metrics.counter(
            "valora_predictions_total",
            "Predictions answered, by source and the model version that made them.",
            ["source", "model_name", "model_version"],
        )
        self.batch_rows = metrics.histogram(
            "valora_predictor_batch_rows", "Inputs valued per batch (count).", ["topic"]
        )
        self.errors = metrics.counter(
            "valora_predictor_errors_total", "Requests answered with an error.", ["reason"]
        )
        self.model_version = metrics.gauge(
            "valora_predictor_model_version",
            "Served champion version (1 = served).",
            ["model_name", "model_version"],
        )

    def observe(self, *, topic: str, rows: Sequence[PredictionRow], seconds: float) -> None:
        """One handled batch of ``topic``: its stored (or already stored) rows and duration."""
        service = self.base.service
        by_label = Counter((r.source, r.model_name, r.model_version) for r in rows)
        for (source, model_name, version), count in by_label.items():
            self.predictions.labels(service, source, model_name, version).inc(count)
        self.batch_rows.labels(service, topic).observe(len(rows))
        self.base.handler_seconds.labels(service, topic).observe(seconds)
