"""Kafka subscribers of the drift monitor: thin, under the consumers' error policy."""

from __future__ import annotations

from valora_contracts import (
    LISTINGS_VALIDATED,
    MODELS_CHALLENGERS,
    MODELS_PROMOTED,
    PREDICTIONS_MADE,
    PREDICTIONS_SHADOW,
    SALES_OBSERVED,
    SaleObserved,
    ShadowPrediction,
)
from valora_messaging import ConsumerRuntime, Subscription

from valora_drift_monitor.domain.events import ListingEvent, PredictionEvent
from valora_drift_monitor.entrypoints.handlers import PromotionsHandler, TopicHandler
from valora_drift_monitor.entrypoints.shadow import ChallengersHandler
from valora_drift_monitor.settings import DriftSettings

__all__ = ["group_ids", "register_subscribers"]


def group_ids(settings: DriftSettings) -> dict[str, str]:
    """One consumer group per input topic, so a slow topic never stalls another's rebalance."""
    base = settings.drift_group_id
    return {
        LISTINGS_VALIDATED.name: f"{base}.listings",
        PREDICTIONS_MADE.name: f"{base}.predictions",
        SALES_OBSERVED.name: f"{base}.sales",
        PREDICTIONS_SHADOW.name: f"{base}.shadow",
        MODELS_CHALLENGERS.name: f"{base}.challengers",
    }


def register_subscribers(
    runtime: ConsumerRuntime,
    *,
    settings: DriftSettings,
    listings: TopicHandler[ListingEvent],
    predictions: TopicHandler[PredictionEvent],
    sales: TopicHandler[SaleObserved],
    promotions: PromotionsHandler,
    shadow: TopicHandler[ShadowPrediction],
    challengers: ChallengersHandler,
) -> None:
    """Batches of each input topic under the consumers' error policy; promotions are read by
    every replica (no group, from the latest offset: the champion itself is read at start)."""
    groups = group_ids(settings)
    for topic, handler in (
        (LISTINGS_VALIDATED, listings.handle_batch),
        (PREDICTIONS_MADE, predictions.handle_batch),
        (SALES_OBSERVED, sales.handle_batch),
        (PREDICTIONS_SHADOW, shadow.handle_batch),
        (MODELS_CHALLENGERS, challengers.handle_batch),
    ):
        runtime.subscribe(
            Subscription(
                topic=topic,
                handle=handler,
                sink=runtime.broker_sink(topic),
                group_id=groups[topic.name],
            )
        )
    runtime.subscribe(
        Subscription(
            topic=MODELS_PROMOTED,
            handle=promotions.handle_batch,
            sink=runtime.broker_sink(MODELS_PROMOTED),
            group_id=None,
            batch=False,
        )
    )
