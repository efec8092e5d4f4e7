"""Prometheus metrics of the shadow challengers' judgement (the drift monitor's registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from valora_observability import ServiceMetrics

from valora_drift_monitor.domain.shadow import ShadowFigures

__all__ = ["ShadowMetrics"]


class ShadowMetrics:
    """Paired sales so far, both models' realised errors on them, the test's p-value and the
    decisions."""

    def __init__(self, *, metrics: ServiceMetrics, model_name: str) -> None:
        self.service = metrics.service
        self.model_name = model_name
        labels = ["model_name", "challenger_version"]
        self.pairs: Counter = metrics.counter(
            "valora_shadow_pairs_total",
            "Champion/challenger valuations consumed (predictions.shadow.v1).",
            ["model_name"],
        )
        self.paired_sales: Gauge = metrics.gauge(
            "valora_shadow_paired_sales",
            "Realised sales both the champion and the challenger valued.",
            labels,
        )
        self.error: Gauge = metrics.gauge(
            "valora_shadow_error",
            "Realised error on the paired sales of the latest look (mae in currency, mape and "
            "coverage as fractions), per model (champion or challenger).",
            [*labels, "model", "statistic"],
        )
        self.p_value: Gauge = metrics.gauge(
            "valora_shadow_p_value",
            "Wilcoxon signed-rank p-value of the paired error differences at the latest look.",
            labels,
        )
        self.decisions: Counter = metrics.counter(
            "valora_shadow_decisions_total", "Challengers decided, by decision.", ["decision"]
        )

    def observe(self, version: str, paired: int, figures: ShadowFigures | None) -> None:
        common = (self.service, self.model_name, version)
        self.paired_sales.labels(*common).set(paired)
        if figures is None:
            return
        for model, mae, mape, coverage in (
            ("champion", figures.champion_mae, figures.champion_mape, figures.champion_coverage),
            (
                "challenger",
                figures.challenger_mae,
                figures.challenger_mape,
                figures.challenger_coverage,
            ),
        ):
            self.error.labels(*common, model, "mae").set(mae)
            self.error.labels(*common, model, "mape").set(mape)
            self.error.labels(*common, model, "coverage").set(coverage)
        if figures.p_value is not None:
            self.p_value.labels(*common).set(figures.p_value)
