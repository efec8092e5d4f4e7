"""Prometheus metrics of the drift monitor: the latest statistics, the estimated error of the
latest prediction window, and the alert states."""

from __future__ import annotations

import math
from collections.abc import Sequence

from prometheus_client import Counter, Gauge
from valora_contracts import DriftAlert
from valora_ml.drift import FeatureDrift
from valora_observability import ServiceMetrics

from valora_drift_monitor.domain.error_estimate import ErrorEstimate
from valora_drift_monitor.domain.ports import SegmentPerformance

__all__ = ["DriftMetrics"]


class DriftMetrics:
    """Gauges of the latest window's statistics and of firing alerts, plus counters."""

    def __init__(
        self, *, metrics: ServiceMetrics, model_name: str, estimated_error_factor: float = 1.5
    ) -> None:
        self.base = metrics
        self.service = metrics.service
        self.model_name = model_name
        labels = ["model_name", "kind", "feature"]
        self.psi: Gauge = metrics.gauge(
            "valora_drift_psi", "PSI of the latest window vs the reference.", labels
        )
        self.test_statistic: Gauge = metrics.gauge(
            "valora_drift_test_statistic",
            "KS or chi-square statistic of the latest window.",
            [*labels, "test"],
        )
        self.p_value: Gauge = metrics.gauge(
            "valora_drift_p_value", "Corrected p-value of the latest window's test.", labels
        )
        self.performance: Gauge = metrics.gauge(
            "valora_drift_performance",
            "Rolling realised error (mae in currency, mape as a fraction).",
            ["model_name", "model_version", "segment", "statistic"],
        )
        self.performance_ratio: Gauge = metrics.gauge(
            "valora_drift_performance_ratio",
            "Rolling realised error divided by the model's test error.",
            ["model_name", "model_version", "segment", "statistic"],
        )
        self._estimate_gauges(metrics, estimated_error_factor)
        self.firing: Gauge = metrics.gauge(
            "valora_drift_alert_firing",
            "1 while an alert condition fires (value = 2 when critical).",
            ["model_name", "kind", "feature", "statistic"],
        )
        self.reference_version: Gauge = metrics.gauge(
            "valora_drift_reference_version", "Model version used as the reference.", ["model_name"]
        )
        self.windows: Counter = metrics.counter(
            "valora_drift_windows_total", "Windows evaluated, by kind.", ["kind"]
        )
        self.unreferenced: Counter = metrics.counter(
            "valora_drift_unreferenced_total",
            "Windows not evaluated because no reference profile was available.",
            ["kind"],
        )
        self.alerts: Counter = metrics.counter(
            "valora_drift_alerts_total", "Alert events sent.", ["kind", "state", "severity"]
        )
        self.outcomes: Counter = metrics.counter(
            "valora_drift_events_total",
            "Events consumed by the monitor (``*_duplicate``: redelivered, counted once).",
            ["event"],
        )
        self.store_errors: Counter = metrics.counter(
            "valora_drift_store_errors_total", "Evaluations not persisted (PostgreSQL).", ["kind"]
        )
        for kind in ("data", "prediction"):
            self.windows.labels(self.service, kind)
            self.unreferenced.labels(self.service, kind)

    def observe_features(self, kind: str, results: Sequence[FeatureDrift]) -> None:
        self.windows.labels(self.service, kind).inc()
        for r in results:
            common = (self.service, self.model_name, kind, r.feature)
            self.psi.labels(*common).set(r.psi)
            self.test_statistic.labels(*common, r.test).set(r.statistic)
            self.p_value.labels(*common).set(r.p_adjusted)

    def observe_performance(
        self, perf: SegmentPerformance, statistic: str, value: float, test: float
    ) -> None:
        labels = (self.service, self.model_name, perf.model_version, perf.segment, statistic)
        self.performance.labels(*labels).set(value)
        self.performance_ratio.labels(*labels).set(value / test)

    def _estimate_gauges(self, metrics: ServiceMetrics, factor: float) -> None:
        """Today's error before the sales arrive (:meth:`observe_error_estimate`)."""
        version_labels = ["model_name", "model_version"]
        self.estimated_error: Gauge = metrics.gauge(
            "valora_estimated_abs_error",
            "Mean estimated absolute error (currency) of the latest prediction window: today's "
            "error before the sales arrive (the error model, at the market level the window's "
            "asking prices show).",
            version_labels,
        )
        self.estimated_error_ratio: Gauge = metrics.gauge(
            "valora_estimated_abs_error_ratio",
            "Mean estimated absolute error of the latest window divided by the model's test MAE.",
            version_labels,
        )
        self.estimated_error_inputs: Gauge = metrics.gauge(
            "valora_estimated_abs_error_inputs_only",
            "Mean estimated absolute error (currency) of the latest prediction window from the "
            "inputs alone (the error model, before the market level is applied).",
            version_labels,
        )
        self.market_level: Gauge = metrics.gauge(
            "valora_estimated_market_level",
            "Median asking / predicted price of the latest prediction window's priced listings "
            "(1: prices where the model expects them; NaN when too few of them were priced).",
            version_labels,
        )
        self.estimated_error_factor: Gauge = metrics.gauge(
            "valora_estimated_abs_error_alert_factor",
            "Estimated / test MAE above which EstimatedErrorAboveTest fires (configured).",
            ["model_name"],
        )
        self.estimated_error_factor.labels(self.service, self.model_name).set(factor)

    def observe_error_estimate(self, model_version: str, estimate: ErrorEstimate) -> None:
        labels = (self.service, self.model_name, model_version)
        self.estimated_error.labels(*labels).set(estimate.mean)
        self.estimated_error_inputs.labels(*labels).set(estimate.inputs_only)
        level = math.nan if estimate.level is None else estimate.level
        self.market_level.labels(*labels).set(level)
        if estimate.ratio is not None:
            self.estimated_error_ratio.labels(*labels).set(estimate.ratio)

    def observe_alert(self, alert: DriftAlert) -> None:
        self.alerts.labels(self.service, alert.kind, alert.state, alert.severity).inc()
        level = 0.0 if alert.state == "resolved" else (2.0 if alert.severity == "critical" else 1.0)
        self.set_firing(alert.kind, alert.feature, alert.statistic, level)

    def set_firing(self, kind: str, feature: str, statistic: str, level: float) -> None:
        self.firing.labels(self.service, self.model_name, kind, feature, statistic).set(level)

    def set_reference_version(self, model_name: str, version: str) -> None:
        """The version compared with (``-1`` for a version that is not a number)."""
        value = float(version) if version.isdigit() else -1.0
        self.reference_version.labels(self.service, model_name).set(value)

    def count(self, event: str, n: int = 1) -> None:
        if n:
            self.outcomes.labels(self.service, event).inc(n)
