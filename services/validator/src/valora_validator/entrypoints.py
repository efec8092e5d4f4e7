"""FastStream subscribers of the validator service: thin, they only call the handler."""

from __future__ import annotations

from typing import Any, Literal

from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_INGESTED
from valora_messaging import batch_consumer_options

from valora_validator.handlers import ValidatorHandler
from valora_validator.settings import ValidatorSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    broker: KafkaBroker, *, settings: ValidatorSettings, handler: ValidatorHandler
) -> None:
    """Subscribe the batch handler to the ingested topic (commit after processing)."""
    isolation: Literal["read_committed", "read_uncommitted"] = (
        "read_committed" if settings.validator_exactly_once else "read_uncommitted"
    )

    @broker.subscriber(  # type: ignore[untyped-decorator]
        LISTINGS_INGESTED.name,
        isolation_level=isolation,
        **batch_consumer_options(settings=settings, group_id=settings.validator_group_id),
    )
    async def on_ingested_listings(records: Any) -> None:
        await handler.handle_batch(records)
