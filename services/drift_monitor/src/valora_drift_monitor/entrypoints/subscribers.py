"""FastStream subscribers of the drift monitor: thin, they only call the handlers."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from valora_contracts import (
    LISTINGS_VALIDATED,
    MODELS_PROMOTED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    SaleObserved,
)
from valora_messaging import batch_consumer_options, records_decoder

from valora_drift_monitor.domain.events import ListingEvent, PredictionEvent
from valora_drift_monitor.entrypoints.handlers import PromotionsHandler, TopicHandler
from valora_drift_monitor.settings import DriftSettings

__all__ = ["group_ids", "register_subscribers"]


def group_ids(settings: DriftSettings) -> dict[str, str]:
    """One consumer group per input topic, so a slow topic never stalls another's rebalance."""
    base = settings.drift_group_id
    return {
        LISTINGS_VALIDATED.name: f"{base}.listings",
        PREDICTIONS_MADE.name: f"{base}.predictions",
        SALES_OBSERVED.name: f"{base}.sales",
    }


def register_subscribers(
    broker: KafkaBroker,
    *,
    settings: DriftSettings,
    listings: TopicHandler[ListingEvent],
    predictions: TopicHandler[PredictionEvent],
    sales: TopicHandler[SaleObserved],
    promotions: PromotionsHandler,
) -> None:
    groups = group_ids(settings)

    @broker.subscriber(  # type: ignore[untyped-decorator]
        LISTINGS_VALIDATED.name,
        **batch_consumer_options(settings=settings, group_id=groups[LISTINGS_VALIDATED.name]),
    )
    async def on_validated_listings(records: Any) -> None:
        await listings.handle_batch(records)

    @broker.subscriber(  # type: ignore[untyped-decorator]
        PREDICTIONS_MADE.name,
        **batch_consumer_options(settings=settings, group_id=groups[PREDICTIONS_MADE.name]),
    )
    async def on_predictions_made(records: Any) -> None:
        await predictions.handle_batch(records)

    @broker.subscriber(  # type: ignore[untyped-decorator]
        SALES_OBSERVED.name,
        **batch_consumer_options(settings=settings, group_id=groups[SALES_OBSERVED.name]),
    )
    async def on_sales_observed(records: Any) -> None:
        await sales.handle_batch(records)

    # No consumer group: every replica sees every promotion, from the latest offset (the
    # champion alias itself is read at start-up).
    @broker.subscriber(
        MODELS_PROMOTED.name,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
        decoder=records_decoder,
    )
    async def on_model_promoted(records: Any) -> None:
        for record in records:
            await promotions.handle(record.value)
