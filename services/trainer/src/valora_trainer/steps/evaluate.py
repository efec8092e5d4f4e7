"""Fit the chosen model, calibrate its interval, and evaluate it on the test split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from valora_contracts import ModelMetrics
from valora_ml.conformal import conformal_half_width, interval_coverage
from valora_ml.features import FEATURE_COLUMNS
from valora_ml.metrics import regression_metrics

from valora_trainer.steps.estimators import build_model
from valora_trainer.steps.search import BestModelSpec

__all__ = [
    "Evaluation",
    "calibrate",
    "evaluate_predictions",
    "feature_importance",
    "fit_model",
]

Predict = Callable[[pd.DataFrame], np.ndarray[Any, Any]]


def fit_model(
    spec: BestModelSpec, train: pd.DataFrame, *, label: str, seed: int, threads: int
) -> Pipeline:
    model = build_model(
        spec.family, spec.params, log_target=spec.log_target, seed=seed, threads=threads
    )
    with threadpool_limits(limits=threads):
        model.fit(train[list(FEATURE_COLUMNS)], train[label].to_numpy(dtype=float))
    return model


def calibrate(predict: Predict, calibration: pd.DataFrame, *, label: str, level: float) -> float:
    """Split-conformal half-width from the calibration rows (never seen by the fit)."""
    predictions = predict(calibration[list(FEATURE_COLUMNS)])
    return conformal_half_width(calibration[label].to_numpy(dtype=float), predictions, level=level)


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
