"""Valora observability: structured logging, Prometheus metrics and health endpoints."""

from valora_observability.health import HealthCheck, health_app, run_checks, service_routes
from valora_observability.logs import configure_logging
from valora_observability.metrics import LATENCY_BUCKETS, ServiceMetrics, metrics_app

__all__ = [
    "LATENCY_BUCKETS",
    "HealthCheck",
    "ServiceMetrics",
    "configure_logging",
    "health_app",
    "metrics_app",
    "run_checks",
    "service_routes",
]
