"""Judging closed windows and realised performance against the champion's reference.

Windows live in this replica's memory (each replica sees a random subset of partitions, keyed
by listing id, so its windows are random samples of the stream); everything another replica or
a restart needs — alert states, joins, window statistics — is in PostgreSQL. A crash loses at
most the open windows' evidence, never an alert state. The statistics themselves are pure
(:mod:`~valora_drift_monitor.domain.statistics`); here they meet the reference, the store and
the metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from valora_contracts import utcnow
from valora_ml.drift import Correction

from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.reference_loader import References
from valora_drift_monitor.domain.alert_plan import Evaluation
from valora_drift_monitor.domain.error_estimate import PredictedRow, estimate_of
from valora_drift_monitor.domain.events import FeatureRow
from valora_drift_monitor.domain.ports import AlertStore, OutcomeStore, WindowRecord
from valora_drift_monitor.domain.statistics import (
    Thresholds,
    compare_listings,
    compare_predictions,
    drift_evaluations,
    performance_evaluations,
    window_of,
)
from valora_drift_monitor.domain.windows import ClosedWindow
from valora_drift_monitor.errors import DriftStoreError

__all__ = ["DataDriftJudge", "PerformanceJudge", "PredictionDriftJudge"]

logger = logging.getLogger(__name__)


async def _record(alerts: AlertStore, metrics: DriftMetrics, record: WindowRecord) -> None:
    try:
        await alerts.record_window(record)
    except DriftStoreError as exc:
        metrics.store_errors.labels(metrics.service, record.kind).inc()
        logger.error("window statistics not stored", extra={"error": str(exc)})


class DataDriftJudge:
    """A closed window of validated listings against the champion's profile."""

    def __init__(
        self,
        *,
        references: References,
        alerts: AlertStore,
        metrics: DriftMetrics,
        thresholds: Thresholds,
        correction: Correction,
        replica: str,
    ) -> None:
        self._references = references
        self._alerts = alerts
        self._metrics = metrics
        self._thresholds = thresholds
        self._correction = correction
        self._replica = replica

    async def evaluate(self, closed: ClosedWindow[FeatureRow]) -> list[Evaluation]:
        reference = self._references.champion
        if reference is None:
            self._metrics.unreferenced.labels(self._metrics.service, "data").inc()
            return []
        results = await asyncio.to_thread(
            compare_listings, reference, closed.rows, correction=self._correction
        )
        self._metrics.observe_features("data", results)
        record = WindowRecord(
            model_name=reference.model_name,
            model_version=reference.model_version,
            kind="data",
            start=closed.start,
            end=closed.end,
            size=closed.size,
            replica=self._replica,
            features=[r.as_dict() for r in results],
        )
        await _record(self._alerts, self._metrics, record)
        return drift_evaluations(
            results,
            kind="data",
            model_name=reference.model_name,
            model_version=reference.model_version,
            window=window_of(closed),
            thresholds=self._thresholds,
        )


class PredictionDriftJudge:
    """A closed window of one version's predicted prices against that version's profile; its
    mean estimated absolute error beside the version's test MAE (a gauge, see
    :mod:`~valora_drift_monitor.domain.error_estimate`)."""

    def __init__(
        self,
        *,
        references: References,
        alerts: AlertStore,
        metrics: DriftMetrics,
        thresholds: Thresholds,
        replica: str,
        min_priced: int,
    ) -> None:
        self._references = references
        self._alerts = alerts
        self._metrics = metrics
        self._thresholds = thresholds
        self._replica = replica
        self._min_priced = min_priced

    async def evaluate(self, version: str, closed: ClosedWindow[PredictedRow]) -> list[Evaluation]:
        reference = await self._references.for_version(version)
        estimate = estimate_of(
            closed.rows,
            test_mae=reference.test_mae if reference is not None else None,
            min_priced=self._min_priced,
        )
        if estimate is not None:
            self._metrics.observe_error_estimate(version, estimate)
        if reference is None:
            self._metrics.unreferenced.labels(self._metrics.service, "prediction").inc()
            return []
        result = compare_predictions(reference, [row[0] for row in closed.rows])
        self._metrics.observe_features("prediction", [result])
        record = WindowRecord(
            model_name=reference.model_name,
            model_version=version,
            kind="prediction",
            start=closed.start,
            end=closed.end,
            size=closed.size,
            replica=self._replica,
            features=[result.as_dict()],
        )
        await _record(self._alerts, self._metrics, record)
        return drift_evaluations(
            [result],
            kind="prediction",
            model_name=reference.model_name,
            model_version=version,
            window=window_of(closed),
            thresholds=self._thresholds,
        )


class PerformanceJudge:
    """Rolling realised MAE/MAPE per model version and neighbourhood (read from PostgreSQL)."""

    def __init__(
        self,
        *,
        references: References,
        outcomes: OutcomeStore,
        metrics: DriftMetrics,
        thresholds: Thresholds,
        size: int,
        span_s: float,
        segments: bool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._references = references
        self._outcomes = outcomes
        self._metrics = metrics
        self._thresholds = thresholds
        self._size = size
        self._span = timedelta(seconds=span_s)
        self._segments = segments
        self._clock = clock

    async def evaluate(self, versions: set[str]) -> list[Evaluation]:
        """Evaluations for the versions that just got new joined outcomes."""
        evaluations: list[Evaluation] = []
        for version in sorted(versions):
            reference = await self._references.for_version(version)
            if reference is None:
                continue
            perfs = await self._outcomes.performance(
                model_name=reference.model_name,
                model_version=version,
                size=self._size,
                since=self._clock() - self._span,
                segments=self._segments,
            )
            for evaluation, value, test in performance_evaluations(
                perfs, reference=reference, thresholds=self._thresholds
            ):
                statistic = evaluation.observation.key.statistic
                perf = next(p for p in perfs if p.segment == evaluation.observation.key.feature)
                self._metrics.observe_performance(perf, statistic, value, test)
                evaluations.append(evaluation)
        return evaluations
