"""What tracing costs one /predict on the serving path, off (the default) and on.

A /predict passes these hooks: the gateway captures its caller's context and activates it around
the micro-batch, the request goes out through a producer lane (a send span), the predictor
consumes it (a consume span, the record's trace id), its reply goes out through a lane, and the
gateway consumes the reply. This times that sequence with tracing off, and on (spans recorded,
nothing exported), without a stack: the per-call overhead to set against the gateway's
per-request latency in bench_serving.py.

    uv run python tests/benchmarks/bench_tracing.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchlib import emit
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from valora_messaging import InRecord
from valora_messaging.tracing import activate, capture, consume_span, record_trace_id, send_span
from valora_observability import tracing

N = 20_000


def one_predict() -> None:
    parent = capture()
    with activate([parent]), send_span("predictions.requests.v1") as headers:
        pass
    record = InRecord(
        value=b"{}",
        key=None,
        topic="predictions.requests.v1",
        partition=0,
        offset=0,
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )
    with consume_span([record], topic="predictions.requests.v1", group="g"):
        record_trace_id(record)
        with send_span("predictions.replies.x.v1") as reply_headers:
            pass
    reply = InRecord(
        value=b"{}",
        key=None,
        topic="predictions.replies.x.v1",
        partition=0,
        offset=0,
        headers=tuple((k, v.encode()) for k, v in reply_headers.items()),
    )
    with consume_span([reply], topic="predictions.replies.x.v1", group=None):
        pass


def records_only() -> None:
    """The same records built without any tracing call (subtracted as the baseline)."""
    for topic in ("predictions.requests.v1", "predictions.replies.x.v1"):
        InRecord(value=b"{}", key=None, topic=topic, partition=0, offset=0, headers=())


def per_call_us(work: Callable[[], None]) -> float:
    for _ in range(1000):  # warm up
        work()
    started = time.perf_counter()
    for _ in range(N):
        work()
    return (time.perf_counter() - started) / N * 1e6


def main() -> None:
    base = per_call_us(records_only)
    off = per_call_us(one_predict) - base
    print(f"tracing off: {off:.2f} us of tracing hooks per /predict")
    emit(
        benchmark="tracing hooks per /predict",
        metric="off (default)",
        value=off,
        unit="us",
        target="negligible next to the gateway's ms latency",
    )
    provider = tracing.new_provider(service="bench")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # as with OTLP
    tracing.install(provider)
    try:
        on = per_call_us(one_predict) - base
    finally:
        tracing.uninstall()
    print(f"tracing on: {on:.2f} us per /predict (6 spans, batched export in the background)")
    emit(benchmark="tracing hooks per /predict", metric="on (batched export)", value=on, unit="us")


if __name__ == "__main__":
    main()
