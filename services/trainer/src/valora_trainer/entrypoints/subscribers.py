"""Kafka subscribers of the trainer, under the consumers' error policy: thin adapters from
records to :mod:`valora_trainer.entrypoints.handlers`.

A record that is not its topic's event is dead-lettered with the batch; any other error
(PostgreSQL down, a column it breaks) is raised to the error policy, which retries, isolates
or dead-letters it: no record stalls a topic.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_contracts import (
    LISTINGS_VALIDATED,
    MODELS_VERDICT,
    SALES_OBSERVED,
    TRAINING_REQUESTS,
    ModelVerdict,
    SaleObserved,
    TopicSpec,
    TrainingRequested,
    ValidatedListing,
)
from valora_messaging import (
    BatchSink,
    ConsumerRuntime,
    FailedRecord,
    InRecord,
    Subscription,
    commit_offsets,
)
from valora_observability import ServiceMetrics

from valora_trainer.entrypoints.handlers import (
    decode_records,
    handle_listings,
    handle_sales,
    handle_training_request,
)
from valora_trainer.entrypoints.runner import TrainingRunner
from valora_trainer.service_layer.challengers import apply_verdict
from valora_trainer.settings import TrainerSettings

__all__ = ["TrainerConsumers", "TrainerDeps", "register_subscribers"]


@dataclass(frozen=True)
class TrainerDeps:
    settings: TrainerSettings
    sessions: async_sessionmaker[AsyncSession]
    runner: TrainingRunner
    metrics: ServiceMetrics
    new_labels_every: int


class TrainerConsumers:
    """The handlers of the trainer's four topics (each a ``Subscription``'s ``handle``)."""

    def __init__(self, *, deps: TrainerDeps, sinks: dict[str, BatchSink]) -> None:
        self._deps = deps
        self._sinks = sinks

    async def _dead_letter(self, topic: TopicSpec, failed: list[FailedRecord]) -> None:
        if failed:
            await self._sinks[topic.name].write(
                outputs=(), failed=failed, offsets=commit_offsets([])
            )

    def _count(self, topic: TopicSpec, outcome: str, n: int) -> None:
        m = self._deps.metrics
        m.messages.labels(m.service, topic.name, outcome).inc(n)

    async def listings(self, records: Sequence[InRecord]) -> None:
        deps, settings = self._deps, self._deps.settings
        decoded = decode_records(records, ValidatedListing)
        with deps.metrics.handler_seconds.labels(
            deps.metrics.service, LISTINGS_VALIDATED.name
        ).time():
            result = await handle_listings(
                events=decoded.events,
                sessions=deps.sessions,
                model_name=settings.model_name,
                sources=settings.training_sources,
                new_labels_every=deps.new_labels_every,
                wake=deps.runner.wake,
                on_labels=deps.runner.note_labels,
            )
        await self._dead_letter(LISTINGS_VALIDATED, decoded.failed)
        self._count(LISTINGS_VALIDATED, "stored", result.stored)

    async def sales(self, records: Sequence[InRecord]) -> None:
        deps = self._deps
        decoded = decode_records(records, SaleObserved)
        result = await handle_sales(
            events=decoded.events,
            sessions=deps.sessions,
            model_name=deps.settings.model_name,
            new_labels_every=deps.new_labels_every,
            wake=deps.runner.wake,
        )
        await self._dead_letter(SALES_OBSERVED, decoded.failed)
        self._count(SALES_OBSERVED, "stored", result.stored)

    async def requests(self, records: Sequence[InRecord]) -> None:
        deps = self._deps
        decoded = decode_records(records, TrainingRequested)
        for event in decoded.events:
            await handle_training_request(
                event=event,
                sessions=deps.sessions,
                model_names=[deps.settings.model_name],
                wake=deps.runner.wake,
            )
        await self._dead_letter(TRAINING_REQUESTS, decoded.failed)
        self._count(TRAINING_REQUESTS, "ok", len(decoded.events))

    async def verdicts(self, records: Sequence[InRecord]) -> None:
        """The drift monitor's verdicts on challengers: promote or retire (MLflow calls in a
        thread; a failure raises to the error policy, and a redelivered verdict is harmless)."""
        deps = self._deps
        decoded = decode_records(records, ModelVerdict)
        runner = deps.runner
        publisher = runner.thread_publisher()
        for verdict in decoded.events:
            if verdict.model_name == deps.settings.model_name:
                await asyncio.to_thread(
                    functools.partial(
                        apply_verdict,
                        verdict=verdict,
                        registry=runner.registry,
                        publisher=publisher,
                    )
                )
        await self._dead_letter(MODELS_VERDICT, decoded.failed)
        self._count(MODELS_VERDICT, "ok", len(decoded.events))


def register_subscribers(runtime: ConsumerRuntime, deps: TrainerDeps) -> None:
    """Listings and sales in batches, training requests and verdicts one at a time (one
    partition each)."""
    topics = (LISTINGS_VALIDATED, SALES_OBSERVED, TRAINING_REQUESTS, MODELS_VERDICT)
    sinks: dict[str, BatchSink] = {t.name: runtime.broker_sink(t) for t in topics}
    consumers = TrainerConsumers(deps=deps, sinks=sinks)
    group = deps.settings.trainer_group_id
    for topic, handle, batch in (
        (LISTINGS_VALIDATED, consumers.listings, True),
        (SALES_OBSERVED, consumers.sales, True),
        (TRAINING_REQUESTS, consumers.requests, False),
        (MODELS_VERDICT, consumers.verdicts, False),
    ):
        runtime.subscribe(
            Subscription(
                topic=topic, handle=handle, sink=sinks[topic.name], group_id=group, batch=batch
            )
        )
