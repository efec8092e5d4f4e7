"""Prometheus metrics of consumers: dead letters, retries and lag, on the service's registry."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from valora_messaging.dlq import FailedRecord

__all__ = ["ConsumerMetrics"]


class ConsumerMetrics:
    """Counters and gauges every consuming service exports (labels stay bounded: topics,
    groups and partitions come from the registry, error types from the code)."""

    def __init__(self, *, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.dead_letters = Counter(
            "valora_consumer_dead_letters_total",
            "Records written to a dead-letter topic, by source topic, error class and type.",
            ["service", "topic", "error_class", "error_type"],
            registry=registry,
        )
        self.retries = Counter(
            "valora_consumer_retries_total",
            "Retries of a failing batch or record, by error class (transient or unknown).",
            ["service", "topic", "error_class"],
            registry=registry,
        )
        self.lag = Gauge(
            "valora_consumer_lag",
            "Records behind: the partition's end offset (last stable offset for "
            "read_committed readers) minus the group's committed offset.",
            ["service", "group", "topic", "partition"],
            registry=registry,
        )

    def dead_lettered(self, records: Iterable[FailedRecord]) -> None:
        for record in records:
            self.dead_letters.labels(
                self.service, record.topic, record.error_class, type(record.error).__name__
            ).inc()

    def retried(self, *, topic: str, error_class: str) -> None:
        self.retries.labels(self.service, topic, error_class).inc()
