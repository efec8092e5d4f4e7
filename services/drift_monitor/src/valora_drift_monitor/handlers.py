"""The drift monitor's batch handlers: plain classes taking their dependencies, no Kafka client.

Order inside a batch: decode (bad records become dead letters) -> joins in PostgreSQL (a failure
raises, so the batch is redelivered before any window moved) -> windows -> evaluations ->
alert transitions -> publish alerts and dead letters -> mark the outbox published. Offsets are
committed after the handler returns (at-least-once; alert state makes a replay harmless).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from valora_contracts import (
    LISTINGS_VALIDATED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    ModelPromoted,
    SaleObserved,
)
from valora_messaging import BatchSink, FailedRecord, InRecord, commit_offsets, to_failed

from valora_drift_monitor.engine import AlertEngine
from valora_drift_monitor.errors import InvalidEventError
from valora_drift_monitor.metrics import DriftMetrics
from valora_drift_monitor.monitors import (
    DataDriftMonitor,
    PerformanceMonitor,
    PredictionDriftMonitor,
)
from valora_drift_monitor.planning import Evaluation, Plan
from valora_drift_monitor.ports import LabelRow, OutcomeStore, PredictionRow
from valora_drift_monitor.reference import References
from valora_drift_monitor.views import parse_listing, parse_prediction

__all__ = [
    "ListingsHandler",
    "Output",
    "PredictionsHandler",
    "PromotionsHandler",
    "SalesHandler",
]

logger = logging.getLogger(__name__)
V = TypeVar("V")


def _decode(
    records: Sequence[InRecord], parse: Callable[[bytes], V], name: str
) -> tuple[list[V], list[FailedRecord]]:
    events: list[V] = []
    failed: list[FailedRecord] = []
    for record in records:
        try:
            events.append(parse(record.value))
        except Exception as exc:  # one bad record is that record's problem, never fatal
            failed.append(to_failed(record, InvalidEventError(f"invalid {name}: {exc}")))
    return events, failed


class Output:
    """Apply evaluations, publish the resulting events with the dead letters, mark them sent."""

    def __init__(self, *, engine: AlertEngine, sink: BatchSink, metrics: DriftMetrics) -> None:
        self.engine = engine
        self.sink = sink
        self.metrics = metrics

    async def finish(
        self,
        records: Sequence[InRecord],
        failed: list[FailedRecord],
        batches: Sequence[tuple[str, list[Evaluation]]],
        *,
        topic: str,
        started: float,
    ) -> list[Plan]:
        plans = [await self.engine.apply(evs, kind=kind) for kind, evs in batches if evs]
        outputs = [record for plan in plans for record in plan.records()]
        await self.sink.write(outputs=outputs, failed=failed, offsets=commit_offsets(records))
        for plan in plans:
            await self.engine.published(plan)
        base = self.metrics.base
        service = base.service
        handled = len(records) - len(failed)
        if handled:
            base.messages.labels(service, topic, "handled").inc(handled)
        if failed:
            base.messages.labels(service, topic, "dead_lettered").inc(len(failed))
            base.dead_letters.labels(service, topic).inc(len(failed))
        base.handler_seconds.labels(service, topic).observe(time.perf_counter() - started)
        return plans


class ListingsHandler:
    """Validated listings: data-drift windows; prices of re-listed homes as late labels."""

    def __init__(
        self,
        *,
        model_name: str,
        data: DataDriftMonitor,
        performance: PerformanceMonitor,
        outcomes: OutcomeStore,
        output: Output,
        listing_labels: bool,
    ) -> None:
        self._model_name = model_name
        self._data = data
        self._performance = performance
        self._outcomes = outcomes
        self._output = output
        self._listing_labels = listing_labels

    async def handle_batch(self, records: Sequence[InRecord]) -> list[Plan]:
        started = time.perf_counter()
        listings, failed = _decode(records, parse_listing, "ValidatedListing")
        versions: set[str] = set()
        if self._listing_labels:
            labels = [
                LabelRow(x.listing_id, x.price, x.occurred_at)
                for x in listings
                if x.price is not None
            ]
            versions = await self._outcomes.add_listing_prices(self._model_name, labels)
        evaluations: list[Evaluation] = []
        for x in listings:
            closed = self._data.add(x.occurred_at, x.row)
            if closed is not None:
                evaluations += await self._data.evaluate(closed)
        self._output.metrics.count("listing", len(listings))
        performance = await self._performance.evaluate(versions) if versions else []
        return await self._output.finish(
            records,
            failed,
            [("data", evaluations), ("performance", performance)],
            topic=LISTINGS_VALIDATED.name,
            started=started,
        )


class PredictionsHandler:
    """Predictions: prediction-drift windows per version; stored for the label join."""

    def __init__(
        self,
        *,
        model_name: str,
        predictions: PredictionDriftMonitor,
        performance: PerformanceMonitor,
        outcomes: OutcomeStore,
        output: Output,
    ) -> None:
        self._model_name = model_name
        self._predictions = predictions
        self._performance = performance
        self._outcomes = outcomes
        self._output = output

    async def handle_batch(self, records: Sequence[InRecord]) -> list[Plan]:
        started = time.perf_counter()
        made, failed = _decode(records, parse_prediction, "PredictionMade")
        mine = [p for p in made if p.model_name == self._model_name]
        rows = [
            PredictionRow(
                model_name=p.model_name,
                listing_id=p.listing_id,
                model_version=p.model_version,
                predicted_price=p.price,
                neighbourhood=p.neighbourhood,
                predicted_at=p.occurred_at,
            )
            for p in mine
            if p.listing_id
        ]
        versions = await self._outcomes.add_predictions(rows)
        evaluations: list[Evaluation] = []
        for p in mine:
            version = p.model_version
            closed = self._predictions.add(version, p.occurred_at, p.price)
            if closed is not None:
                evaluations += await self._predictions.evaluate(version, closed)
        self._output.metrics.count("prediction", len(mine))
        self._output.metrics.count("prediction_other_model", len(made) - len(mine))
        performance = await self._performance.evaluate(versions) if versions else []
        return await self._output.finish(
            records,
            failed,
            [("prediction", evaluations), ("performance", performance)],
            topic=PREDICTIONS_MADE.name,
            started=started,
        )


class SalesHandler:
    """Realised sale prices: joined to predictions, then rolling performance is judged."""

    def __init__(
        self,
        *,
        model_name: str,
        performance: PerformanceMonitor,
        outcomes: OutcomeStore,
        output: Output,
    ) -> None:
        self._model_name = model_name
        self._performance = performance
        self._outcomes = outcomes
        self._output = output

    async def handle_batch(self, records: Sequence[InRecord]) -> list[Plan]:
        started = time.perf_counter()
        sales, failed = _decode(records, SaleObserved.model_validate_json, "SaleObserved")
        rows = [LabelRow(s.listing_id, s.sale_price, s.sold_at) for s in sales]
        versions = await self._outcomes.add_sales(self._model_name, rows)
        self._output.metrics.count("sale", len(sales))
        performance = await self._performance.evaluate(versions) if versions else []
        return await self._output.finish(
            records,
            failed,
            [("performance", performance)],
            topic=SALES_OBSERVED.name,
            started=started,
        )


class PromotionsHandler:
    """A new champion: reload the reference (every replica sees every promotion)."""

    def __init__(self, *, references: References, metrics: DriftMetrics) -> None:
        self._references = references
        self._metrics = metrics

    async def handle(self, value: bytes) -> None:
        try:
            event = ModelPromoted.model_validate_json(value)
        except Exception as exc:  # not ours to dead-letter: the trainer owns this topic
            logger.warning("ignoring an invalid ModelPromoted", extra={"error": str(exc)[:300]})
            return
        if event.model_name != self._references.model_name:
            return
        champion = await self._references.on_promoted(event)
        if champion is not None:
            self._metrics.reference_version.labels(self._metrics.service, champion.model_name).set(
                float(champion.model_version) if champion.model_version.isdigit() else -1
            )
