"""A window against its reference, and window statistics turned into alert evaluations (pure).

Data and prediction drift: the value tracked is the PSI (effect size, with the hysteresis
levels); the evidence is *significant* only when the corrected KS / chi-square p-value is below
alpha. Both must agree to fire. Performance: the realised MAE/MAPE against the model's own test
metric times the configured ratios, judged (fired or resolved) only on enough joined
predictions; neighbourhood segments are inhibited while the overall condition of the same
version fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from valora_contracts import DriftWindow
from valora_ml.drift import Correction, FeatureDrift, compare_window, numeric_drift
from valora_ml.features import NUMERIC_INPUTS

from valora_drift_monitor.domain.alert_plan import Evaluation
from valora_drift_monitor.domain.alerting import AlertKey, Levels, Observation
from valora_drift_monitor.domain.events import FeatureRow
from valora_drift_monitor.domain.ports import SegmentPerformance
from valora_drift_monitor.domain.reference import Reference
from valora_drift_monitor.domain.windows import ClosedWindow

__all__ = [
    "OVERALL",
    "Thresholds",
    "compare_listings",
    "compare_predictions",
    "drift_evaluations",
    "performance_evaluations",
    "window_of",
]

OVERALL = "all"


@dataclass(frozen=True)
class Thresholds:
    psi: Levels
    alpha: float
    warning_ratio: float
    critical_ratio: float
    resolve_ratio: float
    statistics: tuple[Literal["mae", "mape"], ...]
    min_size: int
    segment_min_size: int


def window_of(closed: ClosedWindow[Any]) -> DriftWindow:
    """The ``DriftWindow`` an alert about ``closed`` names."""
    return DriftWindow(start=closed.start, end=closed.end, size=closed.size)


def compare_listings(
    reference: Reference, rows: Sequence[FeatureRow], *, correction: Correction
) -> list[FeatureDrift]:
    """Every input feature of a data window against the reference profile (CPU-bound)."""
    numbers = np.array([row[:5] for row in rows], dtype=float).reshape(len(rows), 5)
    return compare_window(
        reference.profile,
        numeric={name: numbers[:, i] for i, name in enumerate(NUMERIC_INPUTS)},
        categorical={"neighbourhood": [row[5] for row in rows]},
        correction=correction,
    )


def compare_predictions(reference: Reference, prices: Sequence[float]) -> FeatureDrift:
    """Predicted prices of one version against its profile (one test: nothing to correct)."""
    profile = reference.profile
    result = numeric_drift("prediction", profile.prediction, prices, n_reference=profile.n_rows)
    return result.with_adjusted(result.p_value)


def drift_evaluations(
    results: Iterable[FeatureDrift],
    *,
    kind: Literal["data", "prediction"],
    model_name: str,
    model_version: str,
    window: DriftWindow,
    thresholds: Thresholds,
) -> list[Evaluation]:
    """One evaluation per feature: PSI value, significant if the corrected p < alpha."""
    return [
        Evaluation(
            observation=Observation(
                key=AlertKey(model_name, kind, r.feature, "psi", model_version),
                value=r.psi,
                levels=thresholds.psi,
                significant=r.p_adjusted < thresholds.alpha,
                p_value=r.p_adjusted,
            ),
            window=window,
        )
        for r in results
    ]


def performance_evaluations(
    perfs: Sequence[SegmentPerformance], *, reference: Reference, thresholds: Thresholds
) -> list[tuple[Evaluation, float, float]]:
    """(evaluation, realised value, test value) per segment and statistic with a test metric."""
    out: list[tuple[Evaluation, float, float]] = []
    for statistic in thresholds.statistics:
        test = reference.test_metric(statistic)
        if test is None:
            continue
        overall = AlertKey(
            reference.model_name, "performance", OVERALL, statistic, reference.model_version
        )
        levels = Levels(
            warning=test * thresholds.warning_ratio,
            critical=test * thresholds.critical_ratio,
            resolve=test * thresholds.resolve_ratio,
        )
        for perf in perfs:
            is_overall = perf.segment == OVERALL
            if perf.size < (thresholds.min_size if is_overall else thresholds.segment_min_size):
                continue  # too few joined predictions to judge (or to resolve) anything
            value = perf.mae if statistic == "mae" else perf.mape
            key = (
                overall
                if is_overall
                else AlertKey(
                    reference.model_name,
                    "performance",
                    perf.segment,
                    statistic,
                    reference.model_version,
                )
            )
            evaluation = Evaluation(
                observation=Observation(key=key, value=value, levels=levels, significant=True),
                window=DriftWindow(start=perf.start, end=perf.end, size=perf.size),
                inhibited_by=None if is_overall else overall.dedupe_key,
            )
            out.append((evaluation, value, test))
    return out
