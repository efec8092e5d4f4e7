"""HTTP traces: while tracing is on, FastAPI's OpenTelemetry instrumentation opens a server span
per request (health and metrics excluded), and the request-reply client continues that trace
over Kafka to the predictor and back. While it is off the app gets no middleware at all."""

from __future__ import annotations

from fastapi import FastAPI
from valora_observability.tracing import tracer_provider

__all__ = ["EXCLUDED_URLS", "instrument"]

EXCLUDED_URLS = "/metrics,/health/live,/health/ready"


def instrument(app: FastAPI) -> bool:
    """Instrument ``app`` when tracing is on; True when it did."""
    provider = tracer_provider()
    if provider is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    return True
