"""The composition root of the ingestion service: settings, logging, runtime, handler, app."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from valora_contracts import LISTINGS_INGESTED, LISTINGS_RAW, dlq_for
from valora_messaging import ConsumerRuntime, consumer_app
from valora_observability import configure_logging
from valora_observability.lifecycle import fatal

from valora_ingestion.domain.dedupe import RecentKeys
from valora_ingestion.entrypoints.handlers import IngestionHandler
from valora_ingestion.entrypoints.subscribers import register_subscribers
from valora_ingestion.settings import IngestionSettings

__all__ = ["build_app"]


def build_app(
    settings: IngestionSettings | None = None, *, configure_logs: bool = True
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    settings = settings or IngestionSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    runtime = ConsumerRuntime.create(settings=settings, client_id="ingestion", on_fatal=fatal)
    sink = runtime.output_sink(
        source=LISTINGS_RAW,
        group_id=settings.ingestion_group_id,
        exactly_once=settings.ingestion_exactly_once,
    )
    handler = IngestionHandler(
        sink=sink,
        recent=RecentKeys(capacity=settings.ingestion_dedupe_capacity),
        metrics=runtime.metrics,
        default_source=settings.ingestion_default_source,
    )
    register_subscribers(runtime, settings=settings, handler=handler, sink=sink)
    return consumer_app(
        runtime, topics=[LISTINGS_RAW, LISTINGS_INGESTED, dlq_for(LISTINGS_RAW)], sinks=[sink]
    )
