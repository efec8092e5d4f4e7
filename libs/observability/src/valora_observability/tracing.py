"""Traces (OpenTelemetry): off unless an OTLP endpoint is configured, and then one trace per
request across every hop.

:func:`configure_tracing` (called once per process by
:func:`~valora_observability.runner.service_main`) installs a tracer provider exporting to
``VALORA_TRACING_OTLP_ENDPOINT`` (OTLP over HTTP, batched) and instruments asyncpg, so every
PostgreSQL statement is a span. Code that traces asks :func:`tracer_provider` first and does
nothing when it is ``None``: with tracing off no span, header or instrumentation exists, so
serving pays nothing. Tests :func:`install` a provider with an in-memory exporter instead.

The provider is this module's, not OpenTelemetry's global one (MLflow keeps its own tracing on
the global API). Kafka hops: :mod:`valora_messaging.tracing`; HTTP: the gateway instruments its
FastAPI app with :func:`tracer_provider`.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import format_trace_id
from pydantic import Field
from valora_settings import ValoraSettings

__all__ = [
    "TraceSettings",
    "configure_tracing",
    "current_trace_id",
    "install",
    "new_provider",
    "tracer",
    "tracer_provider",
    "uninstall",
]

logger = logging.getLogger(__name__)

_PROVIDER: TracerProvider | None = None
_TRACERS: dict[str, trace.Tracer] = {}  # of the installed provider (get_tracer is not cheap)


class TraceSettings(ValoraSettings):
    """Where traces go (read by :func:`configure_tracing`)."""

    tracing_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint of the trace collector, e.g. http://jaeger:4318 (spans "
        "are posted to <endpoint>/v1/traces). Unset: tracing is off (no spans, no overhead).",
    )
    tracing_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Fraction of new traces recorded; a sampled caller's trace is always "
        "continued (parent-based).",
    )


def new_provider(*, service: str, sample_ratio: float = 1.0) -> TracerProvider:
    """A tracer provider naming ``service`` (add span processors, then :func:`install`)."""
    return TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )


def install(provider: TracerProvider) -> None:
    """Make ``provider`` the one Valora code traces with, and trace asyncpg's statements."""
    global _PROVIDER
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if _PROVIDER is not None:
        uninstall()
    _TRACERS.clear()
    _PROVIDER = provider
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def uninstall() -> None:
    """Turn tracing off again (tests)."""
    global _PROVIDER
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if _PROVIDER is not None:
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        _PROVIDER = None
        _TRACERS.clear()


def configure_tracing(*, service: str, settings: TraceSettings | None = None) -> bool:
    """Export spans to the configured OTLP endpoint; False (and nothing installed) without one."""
    settings = settings or TraceSettings()
    endpoint = settings.tracing_otlp_endpoint
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = new_provider(service=service, sample_ratio=settings.tracing_sample_ratio)
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    logger.info("tracing on", extra={"otlp_endpoint": endpoint, "service": service})
    return True


def tracer_provider() -> TracerProvider | None:
    """The installed provider; ``None`` while tracing is off."""
    return _PROVIDER


def tracer(name: str) -> trace.Tracer | None:
    """A tracer of the installed provider, or ``None`` while tracing is off."""
    if _PROVIDER is None:
        return None
    found = _TRACERS.get(name)
    if found is None:
        found = _TRACERS[name] = _PROVIDER.get_tracer(name)
    return found


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or ``None`` (off, or no span)."""
    if _PROVIDER is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format_trace_id(context.trace_id) if context.is_valid else None
