"""Trace context across Kafka hops: a W3C ``traceparent`` header on every record Valora
produces, and a consume span per handled batch continuing the producer's trace.

Everything here is a no-op while tracing is off
(:func:`valora_observability.tracing.tracer_provider` is ``None``): no span, no header.

* What a FastStream broker publishes is traced by FastStream's Kafka telemetry middleware
  (:func:`broker_middlewares`; :func:`~valora_messaging.create_broker` adds it).
* What Valora sends through aiokafka directly (producer lanes: requests, replies, predictions;
  per-partition transactions) gets a ``<topic> publish`` span and its context in the headers
  (:func:`send_span`).
* Every consumer (:func:`~valora_messaging.subscribe`, the request-reply client's reply
  subscriber) handles a batch inside :func:`consume_span`: a ``<topic> process`` span whose
  parent is the first record's context and which links the other records'. FastStream's own
  consume span would start a new trace for every batch, so the middleware traces publishing only.
* Batching callers: :func:`capture` the caller's context when it queues work and
  :func:`activate` the captured contexts around the batch, which then runs in the first caller's
  trace and links the others (the gateway's micro-batches).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from faststream import BaseMiddleware
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from valora_observability.tracing import tracer, tracer_provider

from valora_messaging.batch import InRecord

__all__ = [
    "MAX_LINKS",
    "PublishTelemetryMiddleware",
    "activate",
    "broker_middlewares",
    "capture",
    "consume_span",
    "record_context",
    "record_trace_id",
    "send_span",
]

MAX_LINKS = 64
"""Most records of one batch linked from its span."""

_PROPAGATOR = TraceContextTextMapPropagator()
# While tracing is off every helper returns one of these shared, do-nothing context managers
# (no generator, no allocation per call: the serving path pays a few attribute look-ups).
_OFF: AbstractContextManager[None] = contextlib.nullcontext()
_NO_HEADERS: AbstractContextManager[Mapping[str, str]] = contextlib.nullcontext(
    MappingProxyType({})
)
_LINKS: ContextVar[tuple[Link, ...]] = ContextVar("valora_trace_links", default=())
_TRACER = "valora_messaging"


class PublishTelemetryMiddleware(KafkaTelemetryMiddleware):
    """FastStream's Kafka telemetry middleware for what the broker publishes (a span per
    publish, the trace context in the record's headers); consumption is traced by
    :func:`consume_span`, which keeps a batch in its producer's trace."""

    def __call__(self, msg: Any | None, /, *, context: Any) -> Any:
        if msg is not None:  # consuming: a plain pass-through
            return BaseMiddleware(msg, context=context)
        return super().__call__(msg, context=context)


def broker_middlewares(middlewares: Sequence[Any] = ()) -> tuple[Any, ...]:
    """``middlewares`` plus FastStream's Kafka telemetry while tracing is on."""
    provider = tracer_provider()
    if provider is None:
        return tuple(middlewares)
    return (*middlewares, PublishTelemetryMiddleware(tracer_provider=provider))


def record_context(record: InRecord) -> Context | None:
    """The trace context a record carries (``traceparent`` header), if any."""
    parent = record.header("traceparent")
    if parent is None:
        return None
    carrier = {"traceparent": parent}
    if (state := record.header("tracestate")) is not None:
        carrier["tracestate"] = state
    found = _PROPAGATOR.extract(carrier)
    return found if trace.get_current_span(found).get_span_context().is_valid else None


def record_trace_id(record: InRecord) -> str | None:
    """The trace id a record carries (32 hex digits); ``None`` when tracing is off or none."""
    if tracer_provider() is None:
        return None
    found = record_context(record)
    if found is None:
        return None
    return format_trace_id(trace.get_current_span(found).get_span_context().trace_id)


def _link(context: Context) -> Link:
    return Link(trace.get_current_span(context).get_span_context())


def consume_span(
    records: Sequence[InRecord], *, topic: str, group: str | None
) -> AbstractContextManager[None]:
    """Handle ``records`` inside a ``<topic> process`` span in the first record's trace."""
    tr = tracer(_TRACER)
    return _OFF if tr is None else _consume_span(tr, records, topic=topic, group=group)


@contextlib.contextmanager
def _consume_span(
    tr: trace.Tracer, records: Sequence[InRecord], *, topic: str, group: str | None
) -> Iterator[None]:
    contexts = [c for r in records[:MAX_LINKS] if (c := record_context(r)) is not None]
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.batch.message_count": len(records),
    }
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    with tr.start_as_current_span(
        f"{topic} process",
        context=contexts[0] if contexts else Context(),
        kind=SpanKind.CONSUMER,
        links=[_link(c) for c in contexts[1:]],
        attributes=attributes,
    ):
        yield


def send_span(topic: str, *, count: int = 1) -> AbstractContextManager[Mapping[str, str]]:
    """A ``<topic> publish`` span around a direct aiokafka send; yields the headers that carry
    its context (empty while tracing is off)."""
    tr = tracer(_TRACER)
    return _NO_HEADERS if tr is None else _send_span(tr, topic, count=count)


@contextlib.contextmanager
def _send_span(tr: trace.Tracer, topic: str, *, count: int) -> Iterator[Mapping[str, str]]:
    with tr.start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        links=list(_LINKS.get()),
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": count,
        },
    ):
        headers: MutableMapping[str, str] = {}
        _PROPAGATOR.inject(headers)
        yield dict(headers)


def capture() -> Context | None:
    """The caller's trace context, to :func:`activate` later (``None`` while tracing is off)."""
    return None if tracer_provider() is None else otel_context.get_current()


def activate(captured: Sequence[Context | None]) -> AbstractContextManager[None]:
    """Run a batch of several callers' work in the first caller's trace; spans started inside
    by :func:`send_span` link the other callers'."""
    if tracer_provider() is None:
        return _OFF
    known = [c for c in captured if c is not None]
    return _activate(known) if known else _OFF


@contextlib.contextmanager
def _activate(known: Sequence[Context]) -> Iterator[None]:
    token = otel_context.attach(known[0])
    links = _LINKS.set(tuple(_link(c) for c in known[1:MAX_LINKS]))
    try:
        yield
    finally:
        _LINKS.reset(links)
        otel_context.detach(token)
