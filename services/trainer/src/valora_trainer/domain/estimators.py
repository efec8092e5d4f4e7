"""The model: a family from a flat parameter dict (the search space is config), as a feature
pipeline (with the market-time term when the rows are dated), and the candidate configurations
a run fits (the search's best and the config's fixed ones, see :mod:`valora_ml.fitting`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.pipeline import Pipeline
from valora_ml.features import build_feature_pipeline

from valora_trainer.config import CandidateSpec
from valora_trainer.errors import ConfigError

__all__ = [
    "SEARCH_CANDIDATE",
    "BestModelSpec",
    "ModelFactory",
    "Predict",
    "build_estimator",
    "build_model",
    "candidate_factories",
]

SEARCH_CANDIDATE = "search"
"""The candidate name of the search's best configuration (first: it wins ties)."""

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
    family: str,
    params: dict[str, Any],
    *,
    log_target: bool,
    seed: int,
    threads: int,
    market_time: bool = False,
) -> Pipeline:
    """The whole model: feature pipeline + estimator (optionally on log-price; with
    ``market_time`` the months since a fixed epoch of each row's date are a feature)."""
    estimator = build_estimator(family, params, seed=seed, threads=threads)
    if log_target:
        estimator = TransformedTargetRegressor(
            regressor=estimator, func=np.log, inverse_func=np.exp
        )
    return build_feature_pipeline(estimator, market_time=market_time)


@dataclass(frozen=True)
class ModelFactory:
    """A fresh, unfitted pipeline of one configuration on each call (what
    :func:`valora_ml.fitting.fit_gate_model` cross-fits and refits)."""

    spec: BestModelSpec
    market_time: bool
    seed: int
    threads: int

    def __call__(self) -> Pipeline:
        s = self.spec
        return build_model(
            s.family,
            s.params,
            log_target=s.log_target,
            seed=self.seed,
            threads=self.threads,
            market_time=self.market_time,
        )


def candidate_factories(
    best: BestModelSpec,
    fixed: Mapping[str, CandidateSpec],
    *,
    market_time: bool,
    seed: int,
    threads: int,
) -> dict[str, ModelFactory]:
    """The search's best (:data:`SEARCH_CANDIDATE`, first) and the config's fixed candidates."""
    specs = {SEARCH_CANDIDATE: best}
    for name, c in fixed.items():
        if name == SEARCH_CANDIDATE:
            raise ConfigError(f"candidate name {SEARCH_CANDIDATE!r} is reserved for the search")
        specs[name] = BestModelSpec(family=c.family, params=dict(c.params), log_target=c.log_target)
    return {
        name: ModelFactory(spec, market_time=market_time, seed=seed, threads=threads)
        for name, spec in specs.items()
    }
