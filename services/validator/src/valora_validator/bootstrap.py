"""The composition root of the validator service: settings, logging, contract, runtime, app."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import LISTINGS_INGESTED, LISTINGS_REJECTED, LISTINGS_VALIDATED, dlq_for
from valora_contracts.data_contract import load_data_contract
from valora_messaging import ConsumerRuntime, consumer_app
from valora_observability import configure_logging
from valora_observability.lifecycle import fatal

from valora_validator.entrypoints.handlers import ValidatorHandler, ValidatorMetrics
from valora_validator.entrypoints.subscribers import register_subscribers
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
    contract = load_data_contract(settings.data_contract_path)
    logger.info(
        "data contract loaded",
        extra={"version": contract.version, "rules": [r.name for r in contract.active_rules]},
    )
    runtime = ConsumerRuntime.create(settings=settings, client_id="validator", on_fatal=fatal)
    sink = runtime.output_sink(
        source=LISTINGS_INGESTED,
        group_id=settings.validator_group_id,
        exactly_once=settings.validator_exactly_once,
    )
    handler = ValidatorHandler(
        contract=contract,
        sink=sink,
        metrics=ValidatorMetrics(metrics=runtime.metrics, contract=contract),
    )
    register_subscribers(runtime, settings=settings, handler=handler, sink=sink)
    return consumer_app(
        runtime,
        topics=[
            LISTINGS_INGESTED,
            LISTINGS_VALIDATED,
            LISTINGS_REJECTED,
            dlq_for(LISTINGS_INGESTED),
        ],
        sinks=[sink],
    )
