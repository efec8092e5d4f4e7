"""Metrics of a model on the test rows, as the events and the gate carry them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from valora_contracts import ModelMetrics
from valora_ml.conformal import interval_coverage
from valora_ml.features import FEATURE_COLUMNS
from valora_ml.metrics import regression_metrics

__all__ = [
    "METRIC_PREFIX",
    "Evaluation",
    "evaluate_predictions",
    "feature_importance",
    "metrics_from_run",
    "run_metrics",
]

METRIC_PREFIX = "test_"
"""Test metrics are logged to the run as ``test_<field of ModelMetrics>``."""


@dataclass(frozen=True)
class Evaluation:
    metrics: ModelMetrics
    predictions: np.ndarray[Any, Any]


def evaluate_predictions(
    y_true: np.ndarray[Any, Any],
    predictions: np.ndarray[Any, Any],
    *,
    half_width: float,
    n_train: int,
) -> Evaluation:
    """RMSE, MAE, MAPE, R² and interval coverage of ``predictions`` against ``y_true``."""
    scores = regression_metrics(y_true, predictions)
    metrics = ModelMetrics(
        rmse=scores.rmse,
        mae=scores.mae,
        mape=scores.mape,
        r2=scores.r2,
        interval_coverage=interval_coverage(y_true, predictions, half_width),
        n_train=n_train,
        n_test=len(y_true),
    )
    return Evaluation(metrics=metrics, predictions=np.asarray(predictions, dtype=float))


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
    model: Pipeline, test: pd.DataFrame, *, label: str, seed: int, repeats: int = 3
) -> dict[str, float]:
    """Permutation importance of each raw input column (RMSE increase), model-agnostic."""
    result: Any = permutation_importance(
        model,
        test[list(FEATURE_COLUMNS)],
        test[label].to_numpy(dtype=float),
        scoring="neg_root_mean_squared_error",
        n_repeats=repeats,
        random_state=seed,
    )
    return {c: float(v) for c, v in zip(FEATURE_COLUMNS, result.importances_mean, strict=True)}
