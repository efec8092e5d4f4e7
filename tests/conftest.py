"""Shared pytest configuration: the dev-stack fixtures (``devstack``) for integration tests, and
an in-memory span exporter (``spans``) for the tracing tests of every tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from valora_observability import tracing

pytest_plugins = ["valora_devstack.pytest_plugin"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider(service="valora-test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()
