"""The composition root of the validator service: settings, logging, contract, broker, app."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import (
    LISTINGS_INGESTED,
    LISTINGS_REJECTED,
    LISTINGS_VALIDATED,
    dlq_for,
)
from valora_messaging import create_broker, create_sink, ensure_topics
from valora_observability import (
    ServiceMetrics,
    configure_logging,
    freeze_heap_hook,
    metrics_app,
    service_routes,
)

from valora_validator.contract import load_contract
from valora_validator.entrypoints import register_subscribers
from valora_validator.handlers import ValidatorHandler, ValidatorMetrics
from valora_validator.settings import ValidatorSettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def build_app(
    settings: ValidatorSettings | None = None, *, configure_logs: bool = True
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    settings = settings or ValidatorSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    contract = load_contract(settings.validator_contract_path)
    logger.info(
        "data contract loaded",
        extra={"version": contract.version, "rules": [r.name for r in contract.active_rules]},
    )
    metrics = ServiceMetrics(settings.service_name)
    broker = create_broker(settings=settings, client_id="validator")

    sink = create_sink(
        settings=settings,
        broker=broker,
        source=LISTINGS_INGESTED,
        service=settings.service_name,
        group_id=settings.validator_group_id,
        exactly_once=settings.validator_exactly_once,
        transactional_id=settings.transactional_id,
    )
    handler = ValidatorHandler(
        contract=contract,
        sink=sink,
        metrics=ValidatorMetrics(metrics=metrics, contract=contract),
    )
    register_subscribers(broker, settings=settings, handler=handler)

    async def start_sink() -> None:
        await ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[
                LISTINGS_INGESTED,
                LISTINGS_REJECTED,
                LISTINGS_VALIDATED,
                dlq_for(LISTINGS_INGESTED),
            ],
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
        after_startup=[freeze_heap_hook(reason="validator started")],
        after_shutdown=[sink.stop],
    )
