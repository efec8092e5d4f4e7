"""Tracing helpers without a stack: off by default and then inert; on, the trace context rides
Kafka headers and a consumed batch continues its producer's trace (valora_observability.tracing,
valora_messaging.tracing, the gateway's instrumentation). The whole path over real Kafka and
PostgreSQL: tests/integration/test_tracing_across_hops.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id
from valora_contracts import ListingFeatures, PredictionInput
from valora_gateway.entrypoints.tracing import instrument
from valora_messaging import InRecord, KafkaSettings, create_broker
from valora_messaging.request_reply.batcher import MicroBatcher
from valora_messaging.tracing import (
    PublishTelemetryMiddleware,
    activate,
    broker_middlewares,
    capture,
    consume_span,
    record_trace_id,
    send_span,
)
from valora_observability import tracing
from valora_observability.runner import describe
from valora_settings import ValoraSettings

pytestmark = pytest.mark.unit


def _record(headers: dict[str, str], offset: int = 0) -> InRecord:
    return InRecord(
        value=b"{}",
        key=None,
        topic="predictions.requests.v1",
        partition=0,
        offset=offset,
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


def _named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def test_tracing_is_off_by_default_and_then_inert() -> None:
    assert tracing.tracer_provider() is None
    assert not tracing.configure_tracing(service="x", settings=tracing.TraceSettings())
    assert tracing.current_trace_id() is None
    with send_span("t") as headers:
        assert dict(headers) == {}
    with consume_span([_record({})], topic="t", group="g"):
        assert tracing.current_trace_id() is None
    with activate([capture(), capture()]):
        pass
    assert capture() is None
    assert broker_middlewares(["m"]) == ("m",)
    broker = create_broker(settings=KafkaSettings(), client_id="t")
    assert not any(isinstance(m, PublishTelemetryMiddleware) for m in broker.middlewares)
    app = FastAPI()
    assert instrument(app) is False


def test_record_trace_id_is_none_while_off_even_with_a_header() -> None:
    # (the assertion above must not pass by accident: off means None)
    assert tracing.tracer_provider() is None
    parent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert record_trace_id(_record({"traceparent": parent})) is None


def test_a_configured_endpoint_turns_tracing_on() -> None:
    settings = tracing.TraceSettings(tracing_otlp_endpoint="http://127.0.0.1:9/")
    try:
        assert tracing.configure_tracing(service="svc", settings=settings)
        provider = tracing.tracer_provider()
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "svc"
        assert any(isinstance(m, PublishTelemetryMiddleware) for m in broker_middlewares(["m"]))
    finally:
        provider = tracing.tracer_provider()
        tracing.uninstall()
        if provider is not None:
            provider.shutdown()


def test_every_service_describes_the_tracing_settings() -> None:
    envs = {e for f in describe(ValoraSettings)["settings"].values() for e in f["env"]}
    assert {"VALORA_TRACING_OTLP_ENDPOINT", "VALORA_TRACING_SAMPLE_RATIO"} <= envs


def test_a_consumed_batch_continues_the_first_records_trace(
    spans: InMemorySpanExporter,
) -> None:
    tr = tracing.tracer("test")
    assert tr is not None
    with tr.start_as_current_span("caller A"), send_span("predictions.requests.v1") as first:
        pass
    with tr.start_as_current_span("caller B"), send_span("predictions.requests.v1") as second:
        pass
    records = [_record(dict(first), 0), _record(dict(second), 1), _record({}, 2)]
    with consume_span(records, topic="predictions.requests.v1", group="g"):
        inner = tracing.current_trace_id()
    publishes = [
        s for s in spans.get_finished_spans() if s.name == "predictions.requests.v1 publish"
    ]
    process = _named(spans, "predictions.requests.v1 process")
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == publishes[0].context.span_id
    assert process.context.trace_id == publishes[0].context.trace_id
    assert inner == format_trace_id(publishes[0].context.trace_id)
    assert [link.context.span_id for link in process.links] == [publishes[1].context.span_id]
    assert (process.attributes or {})["messaging.batch.message_count"] == 3
    assert record_trace_id(records[1]) == format_trace_id(publishes[1].context.trace_id)
    assert record_trace_id(records[2]) is None


@dataclass(frozen=True)
class Answer:
    """What the batcher reads of a result (its input id)."""

    input_id: str


def test_a_micro_batch_travels_in_its_first_callers_trace_and_links_the_others(
    spans: InMemorySpanExporter,
) -> None:
    tr = tracing.tracer("test")
    assert tr is not None

    async def send(items: list[PredictionInput]) -> list[Answer]:
        with send_span("predictions.requests.v1", count=len(items)):
            pass
        return [Answer(i.input_id) for i in items]

    async def scenario() -> None:
        batcher = MicroBatcher(send=send, max_items=10, max_inflight=1)  # type: ignore[arg-type]
        await batcher.start()

        async def call(name: str, area: float) -> None:
            with tr.start_as_current_span(name):
                features = ListingFeatures(
                    area=area, bedrooms=2, bathrooms=1, age=1.0, garage=1, neighbourhood="Centro"
                )
                await batcher.submit(PredictionInput(features=features))

        await asyncio.gather(call("call 1", 50.0), call("call 2", 60.0))
        await batcher.stop()

    asyncio.run(scenario())
    first, second = _named(spans, "call 1"), _named(spans, "call 2")
    publish = _named(spans, "predictions.requests.v1 publish")
    assert publish.parent is not None
    assert publish.parent.span_id == first.context.span_id
    assert [link.context.span_id for link in publish.links] == [second.context.span_id]
    assert (publish.attributes or {})["messaging.batch.message_count"] == 2


def test_the_gateway_opens_a_server_span_per_request(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str | None]:
        return {"trace_id": tracing.current_trace_id()}

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    assert instrument(app)
    with TestClient(app) as client:
        body = client.get("/ping").json()
        client.get("/health/live")
    servers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /ping"]  # health checks are not traced
    assert body["trace_id"] == format_trace_id(servers[0].context.trace_id)
