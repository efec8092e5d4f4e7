"""The drift monitor's batch handlers: one shape for every input topic, no Kafka client.

:class:`TopicHandler` is the shape: decode (bad records become dead letters) -> the topic's
step (joins in PostgreSQL, whose failure raises so the batch is redelivered before any window
moved; then windows and their evaluations) -> realised performance of the versions that got new
outcomes -> :class:`~.batch_output.BatchOutput` (alert transitions, publish, mark the outbox).
Offsets are committed after the handler returns (at-least-once); a redelivered listing or
prediction is recognised by its event id and counted once
(:class:`~valora_drift_monitor.domain.windows.StreamWindows`), and the joins and alert states
make a replay harmless.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from valora_contracts import ModelPromoted, SaleObserved, TopicSpec
from valora_messaging import InRecord

from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.reference_loader import References
from valora_drift_monitor.domain.alert_plan import Evaluation, Plan
from valora_drift_monitor.domain.error_estimate import PredictedRow
from valora_drift_monitor.domain.events import FeatureRow, ListingEvent, PredictionEvent
from valora_drift_monitor.domain.ports import LabelRow, OutcomeStore, PredictionRow
from valora_drift_monitor.domain.windows import StreamWindows
from valora_drift_monitor.entrypoints.batch_output import BatchOutput, KindEvaluations
from valora_drift_monitor.entrypoints.decoding import decode
from valora_drift_monitor.entrypoints.judging import (
    DataDriftJudge,
    PerformanceJudge,
    PredictionDriftJudge,
)
from valora_drift_monitor.errors import InvalidEventError

__all__ = [
    "ListingsStep",
    "PredictionsStep",
    "PromotionsHandler",
    "SalesStep",
    "StepResult",
    "TopicHandler",
]

logger = logging.getLogger(__name__)
E = TypeVar("E")


@dataclass(frozen=True)
class StepResult:
    """What a topic's step made of a batch: evaluations by kind, versions with new outcomes."""

    evaluations: list[KindEvaluations]
    joined: set[str]


class Step(Protocol[E]):
    """What a topic does with its decoded events."""

    async def run(self, events: list[E]) -> StepResult: ...


class TopicHandler(Generic[E]):
    """Decode -> the topic's step -> realised performance -> the batch's output."""

    def __init__(
        self,
        *,
        topic: TopicSpec,
        parse: Callable[[bytes], E],
        event_name: str,
        step: Step[E],
        performance: PerformanceJudge,
        output: BatchOutput,
    ) -> None:
        self._topic = topic
        self._parse = parse
        self._event_name = event_name
        self._step = step
        self._performance = performance
        self._output = output

    async def handle_batch(self, records: Sequence[InRecord]) -> list[Plan]:
        started = time.perf_counter()
        events, failed = decode(records, self._parse, self._event_name)
        result = await self._step.run(events)
        joined = result.joined
        performance = await self._performance.evaluate(joined) if joined else []
        return await self._output.finish(
            records,
            failed,
            [*result.evaluations, ("performance", performance)],
            topic=self._topic.name,
            started=started,
        )


def _event_id(event: ListingEvent | PredictionEvent) -> str:
    return event.event_id


class ListingsStep:
    """Validated listings: each counted once in the data window; the price of a home listed
    again after a prediction of it is a late label."""

    def __init__(
        self,
        *,
        model_name: str,
        windows: StreamWindows[FeatureRow],
        judge: DataDriftJudge,
        outcomes: OutcomeStore,
        metrics: DriftMetrics,
        listing_labels: bool,
    ) -> None:
        self._model_name = model_name
        self._windows = windows
        self._judge = judge
        self._outcomes = outcomes
        self._metrics = metrics
        self._listing_labels = listing_labels

    async def run(self, events: list[ListingEvent]) -> StepResult:
        fresh = self._windows.unseen(events, _event_id)
        joined: set[str] = set()
        if self._listing_labels:
            labels = [
                LabelRow(x.listing_id, x.price, x.occurred_at) for x in fresh if x.price is not None
            ]
            joined = await self._outcomes.add_listing_prices(self._model_name, labels)
        evaluations: list[Evaluation] = []
        for x in fresh:
            closed = self._windows.add(x.event_id, x.occurred_at, x.row)
            if closed is not None:
                evaluations += await self._judge.evaluate(closed)
        self._metrics.count("listing", len(events))
        self._metrics.count("listing_duplicate", len(events) - len(fresh))
        return StepResult([("data", evaluations)], joined)


class PredictionsStep:
    """Predictions of the monitored model: each counted once in its version's window (price
    and estimated absolute error); stored for the label join."""

    def __init__(
        self,
        *,
        model_name: str,
        windows: StreamWindows[PredictedRow],
        judge: PredictionDriftJudge,
        outcomes: OutcomeStore,
        metrics: DriftMetrics,
    ) -> None:
        self._model_name = model_name
        self._windows = windows
        self._judge = judge
        self._outcomes = outcomes
        self._metrics = metrics

    async def run(self, events: list[PredictionEvent]) -> StepResult:
        mine = [p for p in events if p.model_name == self._model_name]
        fresh = self._windows.unseen(mine, _event_id)
        rows = [
            PredictionRow(
                model_name=p.model_name,
                listing_id=p.listing_id,
                model_version=p.model_version,
                predicted_price=p.price,
                neighbourhood=p.neighbourhood,
                predicted_at=p.occurred_at,
            )
            for p in fresh
            if p.listing_id
        ]
        joined = await self._outcomes.add_predictions(rows)
        evaluations: list[Evaluation] = []
        for p in fresh:
            version = p.model_version
            estimate = math.nan if p.expected_abs_error is None else p.expected_abs_error
            asking = math.nan if p.asking_price is None else p.asking_price
            row = (p.price, estimate, asking)
            closed = self._windows.add(p.event_id, p.occurred_at, row, key=version)
            if closed is not None:
                evaluations += await self._judge.evaluate(version, closed)
        self._metrics.count("prediction", len(mine))
        self._metrics.count("prediction_other_model", len(events) - len(mine))
        self._metrics.count("prediction_duplicate", len(mine) - len(fresh))
        return StepResult([("prediction", evaluations)], joined)


class SalesStep:
    """Realised sale prices: joined to predictions (idempotent upserts, no window); then
    ``after_sales`` (the shadow challengers' judgement, which reads the same sales)."""

    def __init__(
        self,
        *,
        model_name: str,
        outcomes: OutcomeStore,
        metrics: DriftMetrics,
        after_sales: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._model_name = model_name
        self._outcomes = outcomes
        self._metrics = metrics
        self._after = after_sales

    async def run(self, events: list[SaleObserved]) -> StepResult:
        rows = [LabelRow(s.listing_id, s.sale_price, s.sold_at) for s in events]
        joined = await self._outcomes.add_sales(self._model_name, rows)
        self._metrics.count("sale", len(events))
        if rows and self._after is not None:
            await self._after()
        return StepResult([], joined)


class PromotionsHandler:
    """A new champion: reload the reference (every replica sees every promotion)."""

    def __init__(self, *, references: References, metrics: DriftMetrics) -> None:
        self._references = references
        self._metrics = metrics

    async def handle_batch(self, records: Sequence[InRecord]) -> None:
        for record in records:
            await self.handle(record.value)

    async def handle(self, value: bytes) -> None:
        """Reload the reference; a record that is not a ``ModelPromoted`` raises
        :class:`InvalidEventError` (dead-lettered by the error policy)."""
        try:
            event = ModelPromoted.model_validate_json(value)
        except ValueError as exc:
            raise InvalidEventError(f"invalid ModelPromoted: {exc}") from exc
        self._metrics.count("promotion")
        if event.model_name != self._references.model_name:
            return
        champion = await self._references.on_promoted(event)
        if champion is not None:
            self._metrics.set_reference_version(champion.model_name, champion.model_version)
