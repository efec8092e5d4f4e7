"""One /predict is one trace: gateway -> Kafka -> predictor -> PostgreSQL -> reply -> gateway.

The gateway and the predictor run in this process (their real apps, built by their
``build_app``, served by uvicorn) against the dev stack's real Kafka, PostgreSQL and MLflow,
with tracing on and spans kept by an in-memory exporter. The test reads the spans of one call,
checks their parentage hop by hop, and that the prediction's stored lineage names that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id
from pydantic import AnyHttpUrl, PostgresDsn
from test_serving_support import (
    SEED_BODY,
    ServingRun,
    free_port,
    new_log_dir,
    register_model,
    set_champion,
)
from valora_gateway.bootstrap import build_app as build_gateway
from valora_gateway.settings import GatewaySettings
from valora_predictor.bootstrap import build_app as build_predictor
from valora_predictor.settings import PredictorSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + 180
        while not server.started:
            assert not task.done(), "server exited during start-up"
            assert time.monotonic() < deadline, "server not started in 180 s"
            await asyncio.sleep(0.1)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


def _settings(run: ServingRun) -> dict[str, Any]:
    return {
        "kafka_bootstrap_servers": run.bootstrap,
        "database_url": PostgresDsn(run.database_url),
        "mlflow_tracking_uri": AnyHttpUrl(run.tracking_uri),
        "model_name": run.model_name,
        "log_json": False,
        "log_level": "WARNING",
    }


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _one(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"{what}: {[s.name for s in found]}"
    return found[0]


async def test_one_predict_is_one_trace_across_gateway_and_predictor(
    devstack: Any, spans: InMemorySpanExporter
) -> None:
    run = ServingRun(
        run_id=uuid.uuid4().hex[:10],
        bootstrap=devstack.kafka_bootstrap_servers,
        database_url=devstack.database_url,
        tracking_uri=devstack.mlflow_tracking_uri,
        log_dir=new_log_dir("valora-tracing-"),
    )
    version = await asyncio.to_thread(
        register_model, tracking_uri=run.tracking_uri, name=run.model_name, seed=3
    )
    await asyncio.to_thread(
        set_champion, tracking_uri=run.tracking_uri, name=run.model_name, version=version
    )
    await run.prepare_groups()
    predictor = build_predictor(
        PredictorSettings(
            **_settings(run),
            predictor_group_id=f"{run.run_id}-predictor",
            predictor_stream_group_id=f"{run.run_id}-predictor-stream",
            predictor_instance_id=f"trace-{run.run_id}",
        ),
        configure_logs=False,
    )
    gateway = build_gateway(
        GatewaySettings(**_settings(run), gateway_instance_id=f"trace-{run.run_id}"),
        configure_logs=False,
    )
    async with serve(predictor) as predictor_port, serve(gateway) as gateway_port:
        async with httpx.AsyncClient(timeout=30.0) as client:
            deadline = time.monotonic() + 180
            while (
                await client.get(f"http://127.0.0.1:{predictor_port}/health/ready")
            ).status_code != 200:
                assert time.monotonic() < deadline, "predictor never served its champion"
                await asyncio.sleep(0.5)
            spans.clear()  # start-up probes are traces of their own
            response = await client.post(
                f"http://127.0.0.1:{gateway_port}/predict",
                content=SEED_BODY,
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 200, response.text
            prediction_id = response.json()["prediction_id"]
            lineage = await client.get(
                f"http://127.0.0.1:{gateway_port}/predictions/{prediction_id}"
            )
            assert lineage.status_code == 200, lineage.text
        # the gateway's reply-consume span may end just after the response went out
        deadline = time.monotonic() + 10
        server = None
        while time.monotonic() < deadline:
            finished = list(spans.get_finished_spans())
            servers = [s for s in finished if s.kind is SpanKind.SERVER and "/predict" in s.name]
            if servers:
                server = servers[0]
                trace = [s for s in finished if s.context.trace_id == server.context.trace_id]
                if any(s.name.endswith(" process") and "replies" in s.name for s in trace):
                    break
            await asyncio.sleep(0.1)
    assert server is not None, [s.name for s in spans.get_finished_spans()]
    trace_id = server.context.trace_id
    trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in trace}

    def ancestors(span: ReadableSpan) -> list[str]:
        out = []
        while (parent := _parent_of(span)) is not None and parent in by_id:
            span = by_id[parent]
            out.append(span.name)
        return out

    assert server.parent is None  # the call is the root of its trace
    request_publish = _one(
        [s for s in trace if s.name == "predictions.requests.v1 publish"], "request publish"
    )
    assert server.name in ancestors(request_publish)
    request_process = _one(
        [s for s in trace if s.name == "predictions.requests.v1 process"], "predictor's consume"
    )
    assert _parent_of(request_process) == request_publish.context.span_id
    assert request_process.kind is SpanKind.CONSUMER
    statements = [s for s in trace if (s.attributes or {}).get("db.system") == "postgresql"]
    assert statements, [s.name for s in trace]
    assert all(request_process.name in ancestors(s) for s in statements)
    reply_topic = f"predictions.replies.trace-{run.run_id}.v1"
    reply_publish = _one([s for s in trace if s.name == f"{reply_topic} publish"], "reply publish")
    assert _parent_of(reply_publish) == request_process.context.span_id
    reply_process = _one([s for s in trace if s.name == f"{reply_topic} process"], "reply consume")
    assert _parent_of(reply_process) == reply_publish.context.span_id
    # the lineage row names this very trace
    assert lineage.json()["trace_id"] == format_trace_id(trace_id)
