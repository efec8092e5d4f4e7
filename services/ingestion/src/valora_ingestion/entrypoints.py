"""FastStream subscribers of the ingestion service: thin, they only call the handler."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_RAW
from valora_messaging import batch_consumer_options

from valora_ingestion.handlers import IngestionHandler
from valora_ingestion.settings import IngestionSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    broker: KafkaBroker, *, settings: IngestionSettings, handler: IngestionHandler
) -> None:
    """Subscribe the batch handler to the ingest topic (commit after processing)."""

    @broker.subscriber(  # type: ignore[untyped-decorator]
        LISTINGS_RAW.name,
        **batch_consumer_options(settings=settings, group_id=settings.ingestion_group_id),
    )
    async def on_raw_listings(records: Any) -> None:
        await handler.handle_batch(records)
