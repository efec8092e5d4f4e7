"""Where the predictor's results go (Kafka), and its Prometheus metrics."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from faststream.kafka import KafkaBroker
from valora_contracts import DRIFT_ALERTS, TopicSpec
from valora_messaging import (
    ConsumerMetrics,
    FailedRecord,
    KnownTopics,
    OutgoingRecord,
    ProducerLanes,
    encode_event,
    publish_dead_letters,
    publish_many,
)
from valora_ml.integrity import ModelIntegrityError, integrity_alert
from valora_ml.registry_ref import ModelRef
from valora_observability import ServiceMetrics, freeze_heap

from valora_predictor.domain.model import ModelHandle
from valora_predictor.domain.predictions import PredictionRow

__all__ = ["BrokerOutput", "IntegrityAlerts", "Output", "PredictorMetrics", "ServedVersion"]

logger = logging.getLogger(__name__)


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


class IntegrityAlerts:
    """``on_refused`` of the holder: a refused model version pages on-call, as a critical
    ``drift.alerts.v1`` alert (kind ``integrity``) and on ``valora_model_integrity_failures_total``
    (the counter moves even when Kafka cannot take the alert)."""

    def __init__(self, *, broker: KafkaBroker, metrics: PredictorMetrics, service: str) -> None:
        self._broker = broker
        self._metrics = metrics
        self._service = service

    async def __call__(self, ref: ModelRef, error: ModelIntegrityError) -> None:
        self._metrics.integrity_failures.labels(self._service, ref.name, ref.version).inc()
        logger.critical(
            "model refused: artifact failed verification; the previous champion keeps serving",
            extra={"model_name": ref.name, "model_version": ref.version, "error": str(error)},
        )
        alert = integrity_alert(
            model_name=ref.name, model_version=ref.version, error=error, service=self._service
        )
        record = OutgoingRecord(DRIFT_ALERTS.name, encode_event(alert), alert.dedupe_key.encode())
        try:
            await publish_many(broker=self._broker, records=[record])
        except Exception as exc:  # the metric and the log line above still page
            logger.error("integrity alert not published", extra={"error": repr(exc)})


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
        self.integrity_failures = metrics.counter(
            "valora_model_integrity_failures_total",
            "Model versions refused because their artifact failed SHA-256 verification.",
            ["model_name", "model_version"],
        )
        self.model_version = metrics.gauge(
            "valora_predictor_model_version",
            "Served champion version (1 = served).",
            ["model_name", "model_version"],
        )
        self.challenger_version = metrics.gauge(
            "valora_predictor_challenger_version",
            "Challenger version valued in the shadow (1 = shadowing; no series: none).",
            ["model_name", "model_version"],
        )
        self.shadow_predictions = metrics.counter(
            "valora_shadow_predictions_total",
            "Inputs also valued by the challenger (stored, never answered), by its version.",
            ["source", "model_name", "model_version"],
        )

    def observe(self, *, topic: str, rows: Sequence[PredictionRow], seconds: float) -> None:
        """One handled batch of ``topic``: its stored (or already stored) rows and duration."""
        service = self.base.service
        by_label = Counter((r.source, r.model_name, r.model_version) for r in rows)
        for (source, model_name, version), count in by_label.items():
            self.predictions.labels(service, source, model_name, version).inc(count)
        shadowed = Counter(
            (r.source, r.model_name, r.shadow.model_version) for r in rows if r.shadow is not None
        )
        for (source, model_name, version), count in shadowed.items():
            self.shadow_predictions.labels(service, source, model_name, version).inc(count)
        self.batch_rows.labels(service, topic).observe(len(rows))
        self.base.handler_seconds.labels(service, topic).observe(seconds)


class ServedVersion:
    """``on_swap`` of a holder: its served-version gauge (the champion's, or with
    ``challenger`` the challenger's), and a heap freeze (a loaded model is long-lived: keep the
    garbage collector from re-scanning it)."""

    def __init__(
        self, *, metrics: PredictorMetrics, service: str, challenger: bool = False
    ) -> None:
        self._gauge = metrics.challenger_version if challenger else metrics.model_version
        self._service = service

    def __call__(self, handle: ModelHandle | None) -> None:
        self._gauge.clear()
        if handle is None:  # a challenger dropped
            return
        freeze_heap(reason=f"model {handle.ref.version} loaded")
        self._gauge.labels(self._service, handle.ref.name, handle.ref.version).set(1)
