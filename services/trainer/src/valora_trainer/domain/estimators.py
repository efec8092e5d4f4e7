"""The model: a family from a flat parameter dict (the search space is config), fitted on the
training rows, its interval calibrated on rows the fit never saw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from valora_ml.conformal import conformal_half_width
from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline

from valora_trainer.errors import ConfigError

__all__ = [
    "BestModelSpec",
    "Predict",
    "build_estimator",
    "build_model",
    "calibrate",
    "fit_model",
]

Predict = Callable[[pd.DataFrame], np.ndarray[Any, Any]]


@dataclass(frozen=True)
class BestModelSpec:
    """The configuration the search chose: family, its parameters, log-price target or not."""

    family: str
    params: dict[str, Any]
    log_target: bool

    @classmethod
    def from_optuna(cls, params: dict[str, Any]) -> BestModelSpec:
        """From an Optuna trial's flat params (``family``, ``<family>.<name>``, ``log_target``)."""
        family = str(params["family"])
        prefix = f"{family}."
        return cls(
            family=family,
            params={k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)},
            log_target=bool(params.get("log_target", False)),
        )


def build_estimator(family: str, params: dict[str, Any], *, seed: int, threads: int) -> Any:
    """The bare estimator of ``family`` with ``params`` (names as in scikit-learn)."""
    if family == "random_forest":
        return RandomForestRegressor(random_state=seed, n_jobs=threads, **params)
    if family == "hist_gradient_boosting":
        # early_stopping off: max_iter is a searched dimension, and fits stay deterministic.
        return HistGradientBoostingRegressor(random_state=seed, early_stopping=False, **params)
    raise ConfigError(f"unknown model family {family!r}")


def build_model(
    family: str, params: dict[str, Any], *, log_target: bool, seed: int, threads: int
) -> Pipeline:
    """The whole model: feature pipeline + estimator (optionally on log-price)."""
    estimator = build_estimator(family, params, seed=seed, threads=threads)
    if log_target:
        estimator = TransformedTargetRegressor(
            regressor=estimator, func=np.log, inverse_func=np.exp
        )
    return build_feature_pipeline(estimator)


def fit_model(
    spec: BestModelSpec, train: pd.DataFrame, *, label: str, seed: int, threads: int
) -> Pipeline:
    """``spec`` fitted on the training rows."""
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
