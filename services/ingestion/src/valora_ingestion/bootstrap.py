"""The composition root of the ingestion service: settings, logging, broker, metrics, app."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import LISTINGS_INGESTED, LISTINGS_RAW, dlq_for
from valora_messaging import create_broker, create_sink, ensure_topics
from valora_observability import (
    ServiceMetrics,
    configure_logging,
    freeze_heap_hook,
    metrics_app,
    service_routes,
)

from valora_ingestion.dedupe import RecentKeys
from valora_ingestion.entrypoints import register_subscribers
from valora_ingestion.handlers import IngestionHandler
from valora_ingestion.settings import IngestionSettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def build_app(
    settings: IngestionSettings | None = None, *, configure_logs: bool = True
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    settings = settings or IngestionSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    metrics = ServiceMetrics(settings.service_name)
    broker = create_broker(settings=settings, client_id="ingestion")

    sink = create_sink(
        settings=settings,
        broker=broker,
        source=LISTINGS_RAW,
        service=settings.service_name,
        group_id=settings.ingestion_group_id,
        exactly_once=settings.ingestion_exactly_once,
        transactional_id=settings.transactional_id,
    )
    handler = IngestionHandler(
        sink=sink,
        recent=RecentKeys(capacity=settings.ingestion_dedupe_capacity),
        metrics=metrics,
        default_source=settings.ingestion_default_source,
    )
    register_subscribers(broker, settings=settings, handler=handler)

    async def start_sink() -> None:
        await ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[LISTINGS_INGESTED, LISTINGS_RAW, dlq_for(LISTINGS_RAW)],
        )
        await sink.start()

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def sink_ready() -> bool:
        return sink.healthy

    return AsgiFastStream(
        broker,
        asgi_routes=service_routes(
            metrics_app=metrics_app(metrics), ready={"kafka": broker_ready, "sink": sink_ready}
        ),
        on_startup=[start_sink],
        after_startup=[freeze_heap_hook(reason="ingestion started")],
        after_shutdown=[sink.stop],
    )
