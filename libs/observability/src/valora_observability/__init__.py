"""Valora observability: structured logging, Prometheus metrics and health endpoints."""

from valora_observability.health import HealthCheck, health_app, run_checks, service_routes
from valora_observability.logs import configure_logging
from valora_observability.metrics import LATENCY_BUCKETS, ServiceMetrics, metrics_app
from valora_observability.runtime import freeze_heap, freeze_heap_hook

__all__ = [
    "LATENCY_BUCKETS",
    "HealthCheck",
    "ServiceMetrics",
    "configure_logging",
    "freeze_heap",
    "freeze_heap_hook",
    "health_app",
    "metrics_app",
    "run_checks",
    "service_routes",
]
