"""FastStream subscribers: thin adapters from Kafka records to
:mod:`valora_trainer.entrypoints.handlers`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_contracts import (
    LISTINGS_VALIDATED,
    SALES_OBSERVED,
    TRAINING_REQUESTS,
    SaleObserved,
    TopicSpec,
    TrainingRequested,
    ValidatedListing,
)
from valora_messaging import (
    FailedRecord,
    batch_consumer_options,
    consumer_options,
    publish_dead_letters,
)
from valora_observability import ServiceMetrics

from valora_trainer.entrypoints.handlers import (
    decode_records,
    handle_listings,
    handle_sales,
    handle_training_request,
)
from valora_trainer.entrypoints.runner import TrainingRunner
from valora_trainer.settings import TrainerSettings

__all__ = ["TrainerDeps", "register_subscribers"]


@dataclass(frozen=True)
class TrainerDeps:
    settings: TrainerSettings
    sessions: async_sessionmaker[AsyncSession]
    runner: TrainingRunner
    metrics: ServiceMetrics
    new_labels_every: int


async def _dead_letter(
    broker: KafkaBroker, deps: TrainerDeps, topic: TopicSpec, failed: list[FailedRecord]
) -> None:
    if failed:
        await publish_dead_letters(
            broker=broker, source=topic, records=failed, service=deps.settings.service_name
        )
        deps.metrics.dead_letters.labels(deps.settings.service_name, topic.name).inc(len(failed))


def register_subscribers(broker: KafkaBroker, deps: TrainerDeps) -> None:
    settings = deps.settings
    service = settings.service_name
    batch = batch_consumer_options(settings=settings, group_id=settings.trainer_group_id)
    single = consumer_options(settings=settings, group_id=settings.trainer_group_id)

    @broker.subscriber(LISTINGS_VALIDATED.name, **batch)  # type: ignore[untyped-decorator]
    async def on_listings(records: Any) -> None:
        decoded = decode_records(records, ValidatedListing)
        with deps.metrics.handler_seconds.labels(service, LISTINGS_VALIDATED.name).time():
            result = await handle_listings(
                events=decoded.events,
                sessions=deps.sessions,
                model_name=settings.model_name,
                sources=settings.training_sources,
                new_labels_every=deps.new_labels_every,
                wake=deps.runner.wake,
            )
        await _dead_letter(broker, deps, LISTINGS_VALIDATED, decoded.failed)
        deps.metrics.messages.labels(service, LISTINGS_VALIDATED.name, "stored").inc(result.stored)

    @broker.subscriber(SALES_OBSERVED.name, **batch)  # type: ignore[untyped-decorator]
    async def on_sales(records: Any) -> None:
        decoded = decode_records(records, SaleObserved)
        result = await handle_sales(
            events=decoded.events,
            sessions=deps.sessions,
            model_name=settings.model_name,
            new_labels_every=deps.new_labels_every,
            wake=deps.runner.wake,
        )
        await _dead_letter(broker, deps, SALES_OBSERVED, decoded.failed)
        deps.metrics.messages.labels(service, SALES_OBSERVED.name, "stored").inc(result.stored)

    @broker.subscriber(TRAINING_REQUESTS.name, **single)  # type: ignore[untyped-decorator]
    async def on_request(records: Any) -> None:
        decoded = decode_records(records, TrainingRequested)
        for event in decoded.events:
            await handle_training_request(
                event=event,
                sessions=deps.sessions,
                model_names=[settings.model_name],
                wake=deps.runner.wake,
            )
        await _dead_letter(broker, deps, TRAINING_REQUESTS, decoded.failed)
        deps.metrics.messages.labels(service, TRAINING_REQUESTS.name, "ok").inc(len(decoded.events))
