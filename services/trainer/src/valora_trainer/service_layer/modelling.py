"""The steps that make the model, after :mod:`.training`: fit -> evaluate -> refit.

1. **fit**: the search's best configuration and the config's fixed candidates (e.g. untuned
   gradient boosting on log price) are compared on the fit rows (on the newest of them when the
   rows are dated, else out of fold); the one with the lowest RMSE is fitted on every fit row,
   with its cross-conformal, locally adaptive interval and its error model (direct loss
   estimation on the fit rows' out-of-fold errors, :mod:`valora_ml.error_model`)
   (:func:`valora_ml.fitting.fit_gate_model`): the *gate model*.
2. **evaluate**: the gate model values the held-out test rows through
   :meth:`~valora_ml.pricemodel.PriceModel.value` (the compiled path the predictor serves
   with); RMSE, MAE, MAPE, R² and the interval's coverage overall, per price third and per
   neighbourhood are logged, and its test predictions kept (a later gate compares a challenger
   with them, see :mod:`valora_trainer.domain.gate`); so is the error model's estimate of the
   test MAE (``test_estimated_mae``, and ``test_estimated_mae_ratio`` to the realised
   ``test_mae``).
3. **refit**: the chosen configuration refitted on every row, fit and test
   (:func:`valora_ml.fitting.fit_served_model`): the *served model*, the one registered. The run
   logs both row counts (``rows.gate_fit``, ``rows.gate_test``, ``rows.served_fit``); the drift
   reference profile describes every row, valued as the predictor values them (at "now").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from valora_contracts import ModelMetrics
from valora_ml.error_model import ErrorModelSettings
from valora_ml.features import contract_frame
from valora_ml.fitting import (
    GateFit,
    IntervalSettings,
    RowCounts,
    fit_gate_model,
    fit_served_model,
    model_inputs,
)
from valora_ml.metrics import metric_name
from valora_ml.pricemodel import PriceModel, Valuation
from valora_ml.profile import ReferenceProfile, build_reference_profile

from valora_trainer.adapters import artifacts
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.dataset import LABEL
from valora_trainer.domain.estimators import BestModelSpec, candidate_factories
from valora_trainer.domain.metrics import TestScores, feature_importance, score_valuation
from valora_trainer.service_layer.training import TrainingRun

__all__ = [
    "Evaluation",
    "GateModel",
    "ServedModel",
    "error_estimate_metrics",
    "evaluate",
    "fit",
    "refit",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateModel:
    """The chosen configuration fitted on the fit rows (judged by the gate)."""

    fitted: GateFit
    spec: BestModelSpec

    @property
    def model(self) -> PriceModel:
        return self.fitted.model


@dataclass(frozen=True)
class Evaluation:
    """The gate model on the test rows: scores, and its prediction of each test row."""

    scores: TestScores
    predictions: np.ndarray[Any, np.dtype[np.float64]]

    @property
    def metrics(self) -> ModelMetrics:
        return self.scores.metrics


@dataclass(frozen=True)
class ServedModel:
    """The chosen configuration refitted on every row: what is registered and served."""

    model: PriceModel
    rows: RowCounts
    profile: ReferenceProfile


def _interval(config: TrainingConfig) -> IntervalSettings:
    i = config.interval
    return IntervalSettings(level=i.level, method=i.method, folds=i.folds, seed=config.search.seed)


def _error_model(config: TrainingConfig) -> ErrorModelSettings | None:
    e = config.error_model
    if not e.enabled:
        return None
    return ErrorModelSettings(
        target=e.target,
        loss=e.loss,
        max_iter=e.max_iter,
        learning_rate=e.learning_rate,
        max_depth=e.max_depth,
        min_samples_leaf=e.min_samples_leaf,
        seed=config.search.seed,
    )


def error_estimate_metrics(
    y_true: np.ndarray[Any, np.dtype[np.float64]], valuation: Valuation
) -> dict[str, float]:
    """The error model's mean estimate on the test rows beside the realised MAE (empty when
    the model has no error model)."""
    estimate = valuation.expected_error
    if estimate is None or not np.isfinite(estimate).all() or len(estimate) == 0:
        return {}
    realised = float(np.mean(np.abs(y_true - valuation.price)))
    estimated = float(np.mean(estimate))
    ratio = estimated / realised if realised > 0 else float("nan")
    return {"test_estimated_mae": estimated, "test_estimated_mae_ratio": ratio}


def fit(
    *,
    run: TrainingRun,
    best: BestModelSpec,
    best_cv_rmse: float,
    config: TrainingConfig,
    registry: Registry,
) -> GateModel:
    """The gate model: the best of the candidates by out-of-fold RMSE, fitted on the fit rows."""
    registry.log_metrics(run.run_id, {"search.best_cv_rmse": best_cv_rmse})
    search = config.search
    candidates = candidate_factories(
        best,
        config.candidates,
        market_time=run.data.market_time,
        seed=search.seed,
        threads=search.threads,
    )
    with threadpool_limits(limits=search.threads):
        fitted = fit_gate_model(
            candidates=candidates,
            fit_rows=run.data.fit,
            label=LABEL,
            settings=_interval(config),
            model_family={name: f.spec.family for name, f in candidates.items()},
            first_margin=config.candidate_margin,
            error_model=_error_model(config),
        )
    chosen = candidates[fitted.chosen].spec
    registry.log_params(
        run.run_id,
        {
            "search.best_family": best.family,
            "champion_candidate": fitted.chosen,
            "candidate_selection": fitted.selection,
            "calibration_folds": fitted.calibration_folds,
            "model_family": chosen.family,
            "log_target": chosen.log_target,
            **{f"best.{k}": v for k, v in chosen.params.items()},
        },
    )
    registry.log_metrics(
        run.run_id,
        {f"candidate_rmse.{metric_name(k)}": v for k, v in fitted.candidate_rmse.items()},
    )
    logger.info(
        "gate model fitted",
        extra={
            "run_id": run.run_id,
            "chosen": fitted.chosen,
            "selection": fitted.selection,
            "candidate_rmse": fitted.candidate_rmse,
        },
    )
    return GateModel(fitted=fitted, spec=chosen)


def evaluate(
    *, run: TrainingRun, gate: GateModel, config: TrainingConfig, registry: Registry
) -> Evaluation:
    """The gate model's test metrics and coverage, its test predictions and the plots."""
    test = run.data.test
    valuation = gate.model.value(model_inputs(test))
    y_test = test[LABEL].to_numpy(dtype=float)
    scores = score_valuation(
        y_test,
        valuation,
        neighbourhoods=test["neighbourhood"].astype(str).tolist(),
        level=config.interval.level,
        n_train=gate.fitted.rows,
    )
    registry.log_metrics(
        run.run_id, {**scores.as_run_metrics(), **error_estimate_metrics(y_test, valuation)}
    )
    importance = None
    if config.plots:
        importance = feature_importance(
            gate.model.pipeline,
            test,
            label=LABEL,
            seed=config.search.seed,
            market_time=run.data.market_time,
        )
    artifacts.log_evaluation(
        registry,
        run_id=run.run_id,
        valuation=artifacts.TestValuation(
            listing_ids=test["listing_id"],
            y_true=y_test,
            price=valuation.price,
            lower=valuation.lower,
            upper=valuation.upper,
        ),
        quality=scores.quality,
        importance=importance,
    )
    return Evaluation(scores=scores, predictions=valuation.price)


def refit(
    *, run: TrainingRun, gate: GateModel, config: TrainingConfig, registry: Registry
) -> ServedModel:
    """The served model: the gate model's configuration refitted on every row."""
    with threadpool_limits(limits=config.search.threads):
        model, rows = fit_served_model(
            gate=gate.fitted,
            fit_rows=run.data.fit,
            test_rows=run.data.test,
            label=LABEL,
            settings=_interval(config),
            error_model=_error_model(config),
        )
    registry.log_params(run.run_id, rows.as_params())
    every_row = contract_frame(run.all_rows)  # no date column: valued at "now", as served
    profile = build_reference_profile(
        every_row, model.predict_price(every_row), bins=config.profile_bins
    )
    artifacts.log_profile(registry, run_id=run.run_id, profile=profile)
    return ServedModel(model=model, rows=rows, profile=profile)
