"""Window bookkeeping and statistics: data drift, prediction drift, realised performance.

Windows live in this replica's memory (each replica sees a random subset of partitions, keyed
by listing id, so its windows are random samples of the stream); everything another replica or
a restart needs — alert states, joins, window statistics — is in PostgreSQL. A crash loses at
most the open windows' evidence, never an alert state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from valora_contracts import DriftWindow, utcnow
from valora_ml.drift import FeatureDrift, compare_window, numeric_drift
from valora_ml.features import NUMERIC_INPUTS

from valora_drift_monitor.errors import DriftStoreError
from valora_drift_monitor.evaluation import (
    Thresholds,
    drift_evaluations,
    performance_evaluations,
)
from valora_drift_monitor.metrics import DriftMetrics
from valora_drift_monitor.planning import Evaluation
from valora_drift_monitor.ports import AlertStore, OutcomeStore, WindowRecord
from valora_drift_monitor.reference import Reference, References
from valora_drift_monitor.settings import DriftSettings
from valora_drift_monitor.windows import ClosedWindow, TumblingWindow, WindowPolicy

__all__ = ["DataDriftMonitor", "FeatureRow", "PerformanceMonitor", "PredictionDriftMonitor"]

logger = logging.getLogger(__name__)

FeatureRow = tuple[float, float, float, float, float, str]
"""area, bedrooms, bathrooms, age, garage, neighbourhood (the order of NUMERIC_INPUTS)."""


@dataclass(frozen=True)
class _Context:
    alerts: AlertStore
    metrics: DriftMetrics
    thresholds: Thresholds
    replica: str


async def _record(ctx: _Context, record: WindowRecord) -> None:
    try:
        await ctx.alerts.record_window(record)
    except DriftStoreError as exc:
        ctx.metrics.store_errors.labels(ctx.metrics.service, record.kind).inc()
        logger.error("window statistics not stored", extra={"error": str(exc)})


def _window(closed: ClosedWindow[Any]) -> DriftWindow:
    return DriftWindow(start=closed.start, end=closed.end, size=closed.size)


class DataDriftMonitor:
    """One tumbling window of validated listings, compared with the champion's profile."""

    def __init__(
        self,
        *,
        references: References,
        alerts: AlertStore,
        metrics: DriftMetrics,
        settings: DriftSettings,
    ) -> None:
        self._references = references
        thresholds = Thresholds.from_settings(settings)
        self._ctx = _Context(alerts, metrics, thresholds, settings.replica_id)
        self._correction = settings.drift_correction
        self.window: TumblingWindow[FeatureRow] = TumblingWindow(
            WindowPolicy(
                size=settings.drift_window_size,
                seconds=settings.drift_window_seconds,
                min_size=min(settings.drift_window_min_size, settings.drift_window_size),
            )
        )

    def add(self, event_time: datetime, row: FeatureRow) -> ClosedWindow[FeatureRow] | None:
        return self.window.add(event_time, row)

    async def evaluate(self, closed: ClosedWindow[FeatureRow]) -> list[Evaluation]:
        reference = self._references.champion
        if reference is None:
            self._ctx.metrics.unreferenced.labels(self._ctx.metrics.service, "data").inc()
            return []
        results = await asyncio.to_thread(self._compare, reference, closed.rows)
        self._ctx.metrics.observe_features("data", results)
        window = _window(closed)
        await _record(
            self._ctx,
            WindowRecord(
                model_name=reference.model_name,
                model_version=reference.model_version,
                kind="data",
                start=closed.start,
                end=closed.end,
                size=closed.size,
                replica=self._ctx.replica,
                features=[r.as_dict() for r in results],
            ),
        )
        return drift_evaluations(
            results,
            kind="data",
            model_name=reference.model_name,
            model_version=reference.model_version,
            window=window,
            thresholds=self._ctx.thresholds,
        )

    def _compare(self, reference: Reference, rows: Sequence[FeatureRow]) -> list[FeatureDrift]:
        numbers = np.array([row[:5] for row in rows], dtype=float).reshape(len(rows), 5)
        return compare_window(
            reference.profile,
            numeric={name: numbers[:, i] for i, name in enumerate(NUMERIC_INPUTS)},
            categorical={"neighbourhood": [row[5] for row in rows]},
            correction=self._correction,
        )


class PredictionDriftMonitor:
    """One window of predicted prices per model version, against that version's profile."""

    def __init__(
        self,
        *,
        references: References,
        alerts: AlertStore,
        metrics: DriftMetrics,
        settings: DriftSettings,
    ) -> None:
        self._references = references
        thresholds = Thresholds.from_settings(settings)
        self._ctx = _Context(alerts, metrics, thresholds, settings.replica_id)
        self._policy = WindowPolicy(
            size=settings.drift_prediction_window_size,
            seconds=settings.drift_window_seconds,
            min_size=min(settings.drift_window_min_size, settings.drift_prediction_window_size),
        )
        self.windows: dict[str, TumblingWindow[float]] = {}

    def add(self, version: str, event_time: datetime, price: float) -> ClosedWindow[float] | None:
        window = self.windows.get(version)
        if window is None:
            window = self.windows[version] = TumblingWindow(self._policy)
        return window.add(event_time, price)

    async def evaluate(self, version: str, closed: ClosedWindow[float]) -> list[Evaluation]:
        reference = await self._references.for_version(version)
        if reference is None:
            self._ctx.metrics.unreferenced.labels(self._ctx.metrics.service, "prediction").inc()
            return []
        profile = reference.profile
        result = numeric_drift(
            "prediction", profile.prediction, closed.rows, n_reference=profile.n_rows
        )
        result = result.with_adjusted(result.p_value)  # one test per window: nothing to correct
        self._ctx.metrics.observe_features("prediction", [result])
        await _record(
            self._ctx,
            WindowRecord(
                model_name=reference.model_name,
                model_version=version,
                kind="prediction",
                start=closed.start,
                end=closed.end,
                size=closed.size,
                replica=self._ctx.replica,
                features=[result.as_dict()],
            ),
        )
        return drift_evaluations(
            [result],
            kind="prediction",
            model_name=reference.model_name,
            model_version=version,
            window=_window(closed),
            thresholds=self._ctx.thresholds,
        )


class PerformanceMonitor:
    """Rolling realised MAE/MAPE per model version and neighbourhood (read from PostgreSQL)."""

    def __init__(
        self,
        *,
        references: References,
        outcomes: OutcomeStore,
        metrics: DriftMetrics,
        settings: DriftSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._references = references
        self._outcomes = outcomes
        self._metrics = metrics
        self._thresholds = Thresholds.from_settings(settings)
        self._size = settings.drift_performance_window_size
        self._span = timedelta(seconds=settings.drift_performance_window_seconds)
        self._segments = settings.drift_performance_segments
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
