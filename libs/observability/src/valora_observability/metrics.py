"""Prometheus helpers: a per-service registry and an ASGI ``/metrics`` app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

__all__ = ["LATENCY_BUCKETS", "ServiceMetrics", "metrics_app"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ServiceMetrics:
    """The metrics every Valora service exports, on its own registry (no global state)."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.messages = Counter(
            "valora_messages_total",
            "Messages handled, by topic and outcome.",
            ["service", "topic", "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "valora_handler_seconds",
            "Time to handle one message or batch.",
            ["service", "topic"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.up = Gauge(
            "valora_up", "1 while the service runs.", ["service"], registry=self.registry
        )
        self.up.labels(self.service).set(1)

    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, ["service", *labels], registry=self.registry)

    def gauge(self, name: str, doc: str, labels: list[str]) -> Gauge:
        return Gauge(name, doc, ["service", *labels], registry=self.registry)

    def histogram(self, name: str, doc: str, labels: list[str]) -> Histogram:
        return Histogram(
            name, doc, ["service", *labels], buckets=LATENCY_BUCKETS, registry=self.registry
        )

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)


def metrics_app(metrics: ServiceMetrics) -> ASGIApp:
    """An ASGI app serving ``metrics.registry`` in the Prometheus text format."""
    app: ASGIApp = make_asgi_app(registry=metrics.registry)
    return app
