"""Regression metrics of a price model (RMSE, MAE, MAPE as a fraction, R²)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

__all__ = ["RegressionMetrics", "regression_metrics", "rmse"]


@dataclass(frozen=True)
class RegressionMetrics:
    rmse: float
    mae: float
    mape: float
    r2: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return math.sqrt(float(mean_squared_error(y_true, y_pred)))


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> RegressionMetrics:
    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    r2 = float(r2_score(truth, pred)) if truth.size > 1 else 0.0
    return RegressionMetrics(
        rmse=rmse(truth, pred),
        mae=float(mean_absolute_error(truth, pred)),
        mape=float(mean_absolute_percentage_error(truth, pred)),
        r2=r2 if math.isfinite(r2) else 0.0,
    )
