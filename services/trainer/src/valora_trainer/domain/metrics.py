"""Metrics of a model on the test rows, as the events and the gate carry them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from valora_contracts import ModelMetrics
from valora_ml.features import FEATURE_COLUMNS
from valora_ml.fitting import model_inputs
from valora_ml.metrics import IntervalQuality, interval_quality, regression_metrics
from valora_ml.pricemodel import Valuation

__all__ = [
    "METRIC_PREFIX",
    "TestScores",
    "feature_importance",
    "metrics_from_run",
    "run_metrics",
    "score_valuation",
]

METRIC_PREFIX = "test_"
"""Test metrics are logged to the run as ``test_<field of ModelMetrics>``."""


@dataclass(frozen=True)
class TestScores:
    """A model's valuation of the test rows, scored: the event's metrics and the interval's
    coverage per price third and per neighbourhood."""

    metrics: ModelMetrics
    quality: IntervalQuality

    def as_run_metrics(self) -> dict[str, float]:
        """Every figure as the run logs it (:func:`run_metrics` and ``test_coverage.*``)."""
        return {**run_metrics(self.metrics), **self.quality.as_metrics(METRIC_PREFIX)}


def score_valuation(
    y_true: np.ndarray[Any, Any],
    valuation: Valuation,
    *,
    neighbourhoods: Sequence[str],
    level: float,
    n_train: int,
) -> TestScores:
    """RMSE, MAE, MAPE, R² and the interval's coverage (overall, per price third, per
    neighbourhood) of ``valuation`` against ``y_true``."""
    scores = regression_metrics(y_true, valuation.price)
    quality = interval_quality(
        y_true,
        valuation.lower,
        valuation.upper,
        neighbourhoods=neighbourhoods,
        predicted=valuation.price,
        level=level,
    )
    metrics = ModelMetrics(
        rmse=scores.rmse,
        mae=scores.mae,
        mape=scores.mape,
        r2=scores.r2,
        interval_coverage=quality.coverage,
        n_train=n_train,
        n_test=len(y_true),
    )
    return TestScores(metrics=metrics, quality=quality)


def run_metrics(metrics: ModelMetrics) -> dict[str, float]:
    """``metrics`` as the run logs them (read back by :func:`metrics_from_run`)."""
    return {f"{METRIC_PREFIX}{k}": float(v) for k, v in metrics.model_dump().items()}


def metrics_from_run(values: Mapping[str, float]) -> ModelMetrics:
    """The test metrics a run logged (missing ones are 0)."""

    def value(name: str) -> float:
        return values.get(f"{METRIC_PREFIX}{name}", 0.0)

    return ModelMetrics(
        rmse=value("rmse"),
        mae=value("mae"),
        mape=value("mape"),
        r2=value("r2"),
        interval_coverage=min(1.0, max(0.0, value("interval_coverage"))),
        n_train=int(value("n_train")),
        n_test=int(value("n_test")),
    )


def feature_importance(
    model: Pipeline,
    test: pd.DataFrame,
    *,
    label: str,
    seed: int,
    market_time: bool = False,
    repeats: int = 3,
) -> dict[str, float]:
    """Permutation importance of each raw input column (RMSE increase), model-agnostic; the
    date column too when the model learnt market time."""
    x = model_inputs(test) if market_time else test[list(FEATURE_COLUMNS)].reset_index(drop=True)
    result: Any = permutation_importance(
        model,
        x,
        test[label].to_numpy(dtype=float),
        scoring="neg_root_mean_squared_error",
        n_repeats=repeats,
        random_state=seed,
    )
    return {str(c): float(v) for c, v in zip(x.columns, result.importances_mean, strict=True)}
