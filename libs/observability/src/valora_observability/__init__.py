"""Valora observability: structured logging, Prometheus metrics, health endpoints, the fatal
latch (:mod:`.lifecycle`) and the one service runner (:mod:`.runner`)."""

from valora_observability.health import (
    HealthCheck,
    Pingable,
    health_app,
    kafka_ready,
    live_response,
    run_checks,
    service_routes,
)
from valora_observability.lifecycle import exit_code, fatal, fatal_reason
from valora_observability.logs import LogSettings, RepeatedErrorSummary, configure_logging
from valora_observability.metrics import LATENCY_BUCKETS, ServiceMetrics, metrics_app
from valora_observability.runtime import freeze_heap, freeze_heap_hook

__all__ = [
    "LATENCY_BUCKETS",
    "HealthCheck",
    "LogSettings",
    "Pingable",
    "RepeatedErrorSummary",
    "ServiceMetrics",
    "configure_logging",
    "exit_code",
    "fatal",
    "fatal_reason",
    "freeze_heap",
    "freeze_heap_hook",
    "health_app",
    "kafka_ready",
    "live_response",
    "metrics_app",
    "run_checks",
    "service_routes",
]
