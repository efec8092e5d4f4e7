"""Model families of the search, built from a flat parameter dict (the search space is config)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.pipeline import Pipeline
from valora_ml.features import build_feature_pipeline

from valora_trainer.errors import ConfigError

__all__ = ["build_estimator", "build_model"]


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
