"""Hyper-parameter search with Optuna: TPE sampler, median pruner on cross-validation folds.

The model family is a dimension of the search, the space is config (:class:`SearchConfig`). On
dated rows (a time split) every trial learns the market-time term, as the fitted model will. The
study lives in whatever storage is given (PostgreSQL in the service, see
:mod:`valora_trainer.adapters.study_storage`, so several workers share it; in memory in tests).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from valora_ml.fitting import model_inputs
from valora_ml.metrics import rmse

from valora_trainer.config import ParamSpec, SearchConfig
from valora_trainer.domain.estimators import BestModelSpec, build_model
from valora_trainer.errors import TrainerError

__all__ = [
    "SearchProgress",
    "SearchResult",
    "best_of",
    "create_study",
    "run_search",
    "suggest",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchProgress:
    done: int
    total: int
    best_value: float | None
    last_state: str


@dataclass(frozen=True)
class SearchResult:
    best: BestModelSpec
    best_value: float
    completed: int
    pruned: int
    failed: int
    trials: pd.DataFrame = field(repr=False)


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(name, spec.choices or [])
    low, high = float(spec.low or 0.0), float(spec.high or 0.0)
    if spec.type == "int":
        step = int(spec.step or 1)
        return trial.suggest_int(name, int(low), int(high), step=step, log=spec.log)
    return trial.suggest_float(name, low, high, step=spec.step, log=spec.log)


def create_study(
    *, study_name: str, storage: optuna.storages.BaseStorage | None, config: SearchConfig
) -> optuna.Study:
    return optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=config.pruner.n_startup_trials,
            n_warmup_steps=config.pruner.n_warmup_steps,
        ),
        load_if_exists=True,
    )


def _objective(
    x: pd.DataFrame, y: np.ndarray[Any, Any], config: SearchConfig, *, market_time: bool
) -> Callable[[optuna.Trial], float]:
    folds = list(KFold(config.cv_folds, shuffle=True, random_state=config.seed).split(x))

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(config.families))
        params = {
            name: suggest(trial, f"{family}.{name}", spec)
            for name, spec in config.families[str(family)].items()
        }
        log_target = bool(suggest(trial, "log_target", config.log_target))
        scores: list[float] = []
        for step, (fit_rows, val_rows) in enumerate(folds):
            model = build_model(
                str(family),
                params,
                log_target=log_target,
                seed=config.seed,
                threads=config.threads,
                market_time=market_time,
            )
            model.fit(x.iloc[fit_rows], y[fit_rows])
            scores.append(rmse(y[val_rows], model.predict(x.iloc[val_rows])))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def run_search(
    *,
    train: pd.DataFrame,
    label: str,
    config: SearchConfig,
    study: optuna.Study,
    n_trials: int,
    market_time: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[SearchProgress], None] | None = None,
) -> SearchResult:
    """Run trials until the study holds ``n_trials`` finished ones (across all workers sharing
    it) or ``config.timeout_s`` passes; return the best model spec. With ``market_time`` the
    models learn the date column of ``train`` (see :mod:`valora_ml.features`)."""
    x = model_inputs(train)
    y = train[label].to_numpy(dtype=float)
    counted = (TrialState.COMPLETE, TrialState.PRUNED)

    def progress(study_: optuna.Study, trial: FrozenTrial) -> None:
        done = len(study_.get_trials(deepcopy=False, states=counted))
        try:
            best: float | None = study_.best_value
        except ValueError:
            best = None
        logger.info(
            "search trial finished",
            extra={
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "params": trial.params,
                "done": done,
                "total": n_trials,
                "best_rmse": best,
            },
        )
        if on_progress is not None:
            on_progress(SearchProgress(done, n_trials, best, trial.state.name))
        if should_stop():
            study_.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with threadpool_limits(limits=config.threads):
        study.optimize(
            _objective(x, y, config, market_time=market_time),
            n_trials=n_trials,
            timeout=config.timeout_s,
            callbacks=[MaxTrialsCallback(n_trials, states=counted), progress],
            catch=(ValueError, ArithmeticError),
            gc_after_trial=False,
        )
    trials = study.get_trials(deepcopy=False)
    best, best_value = best_of(study)
    return SearchResult(
        best=best,
        best_value=best_value,
        completed=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        trials=study.trials_dataframe(),
    )


def best_of(study: optuna.Study) -> tuple[BestModelSpec, float]:
    """The best completed trial of ``study`` (all workers' trials) and its CV RMSE."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None
    ]
    if not complete:
        raise TrainerError("the search finished no trial")
    best = min(complete, key=lambda t: t.value if t.value is not None else math.inf)
    return BestModelSpec.from_optuna(best.params), float(best.value or 0.0)
