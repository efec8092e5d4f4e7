"""The steps that make a model: snapshot -> split -> search -> fit -> evaluate.

Each reads and writes only MLflow (the run, its params, metrics and artifacts) and Optuna's
study, so the Kubeflow steps can run them in separate pods. :mod:`valora_trainer.run` chains
them in one process; :mod:`valora_trainer.promotion` takes the result to the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import pandas as pd
from valora_contracts import ModelMetrics
from valora_ml.features import contract_frame
from valora_ml.pricemodel import PriceModel
from valora_ml.profile import ReferenceProfile, build_reference_profile

from valora_trainer.adapters import artifacts
from valora_trainer.adapters.registry import Registry
from valora_trainer.adapters.study_storage import study_name
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.dataset import LABEL, DataSplit, describe_snapshot, split_frame
from valora_trainer.domain.estimators import BestModelSpec, calibrate, fit_model
from valora_trainer.domain.metrics import evaluate_predictions, feature_importance, run_metrics
from valora_trainer.domain.search import SearchProgress, SearchResult, create_study, run_search
from valora_trainer.errors import InsufficientDataError, RegistryError

__all__ = [
    "Evaluation",
    "FittedModel",
    "Snapshot",
    "TrainingRun",
    "evaluate",
    "fit",
    "resume",
    "search",
    "snapshot",
    "split",
]

logger = logging.getLogger(__name__)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Snapshot:
    """A started MLflow run and the labelled rows it trains on."""

    run_id: str
    model_name: str
    content_hash: str
    frame: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class TrainingRun:
    """A started MLflow run and its rows divided into train, calibration and test."""

    run_id: str
    model_name: str
    snapshot_hash: str
    data: DataSplit = field(repr=False)


@dataclass(frozen=True)
class FittedModel:
    """The search's best configuration, fitted and calibrated, as the pyfunc price model."""

    spec: BestModelSpec
    model: PriceModel


@dataclass(frozen=True)
class Evaluation:
    """Test metrics and the drift reference profile of a fitted model."""

    metrics: ModelMetrics
    profile: ReferenceProfile


def snapshot(
    *,
    model_name: str,
    reason: str,
    request_ids: tuple[str, ...],
    experiment: str,
    frame: pd.DataFrame,
    config: TrainingConfig,
    registry: Registry,
) -> Snapshot:
    """Start the MLflow run with the data's lineage (size, content hash, time range) and the
    data itself as ``snapshot/snapshot.parquet``."""
    if len(frame) < config.triggers.min_rows:
        raise InsufficientDataError(
            f"{len(frame)} labelled rows, at least {config.triggers.min_rows} needed"
        )
    info = describe_snapshot(frame)
    run_id = registry.start_run(
        experiment=experiment,
        run_name=f"{model_name}-{reason}",
        tags={
            "valora.model_name": model_name,
            "valora.reason": reason,
            "valora.request_ids": ",".join(request_ids),
            "valora.snapshot.content_hash": info.content_hash,
        },
    )
    registry.log_params(run_id, {**info.params(), "interval_level": config.interval_level})
    artifacts.log_snapshot(registry, run_id=run_id, frame=frame)
    return Snapshot(run_id, model_name, info.content_hash, frame)


def _split_rows(frame: pd.DataFrame, config: TrainingConfig) -> DataSplit:
    return split_frame(
        frame,
        calibration_fraction=config.split.calibration_fraction,
        test_fraction=config.split.test_fraction,
        seed=config.split.seed,
    )


def split(*, snap: Snapshot, config: TrainingConfig, registry: Registry) -> TrainingRun:
    """Divide the snapshot into train, calibration and test rows; log the sizes and strategy."""
    data = _split_rows(snap.frame, config)
    registry.log_params(
        snap.run_id,
        {
            "split.strategy": data.strategy,
            "split.train": len(data.train),
            "split.calibration": len(data.calibration),
            "split.test": len(data.test),
        },
    )
    return TrainingRun(snap.run_id, snap.model_name, snap.content_hash, data)


def resume(*, run_id: str, config: TrainingConfig, registry: Registry) -> TrainingRun:
    """A run started by another process (a Kubeflow step): its snapshot, split the same way."""
    model_name = registry.run_tags(run_id).get("valora.model_name")
    if not model_name:
        raise RegistryError(f"run {run_id} is not a Valora training run")
    frame = artifacts.read_snapshot(registry, run_id=run_id)
    content_hash = describe_snapshot(frame).content_hash
    return TrainingRun(run_id, model_name, content_hash, _split_rows(frame, config))


def search(
    *,
    run: TrainingRun,
    config: TrainingConfig,
    registry: Registry,
    storage: optuna.storages.BaseStorage | None,
    n_trials: int,
    should_stop: Callable[[], bool] = _never,
    on_progress: Callable[[SearchProgress], None] | None = None,
) -> SearchResult:
    """Join (or create) the run's study and run trials until it holds ``n_trials``."""
    study = create_study(
        study_name=study_name(run.model_name, run.run_id), storage=storage, config=config.search
    )
    result = run_search(
        train=run.data.train,
        label=LABEL,
        config=config.search,
        study=study,
        n_trials=n_trials,
        should_stop=should_stop,
        on_progress=on_progress,
    )
    for trial in study.get_trials(deepcopy=False):
        if trial.value is not None:
            registry.log_metrics(run.run_id, {"search.trial_cv_rmse": trial.value}, trial.number)
    artifacts.log_trials(registry, run_id=run.run_id, trials=result.trials)
    # Metrics, not params: several workers may log them for the same run.
    registry.log_metrics(
        run.run_id,
        {
            "search.trials_requested": float(n_trials),
            "search.completed": float(result.completed),
            "search.pruned": float(result.pruned),
        },
    )
    return result


def fit(
    *,
    run: TrainingRun,
    best: BestModelSpec,
    best_cv_rmse: float,
    config: TrainingConfig,
    registry: Registry,
) -> FittedModel:
    """Fit the search's best configuration on the training rows; calibrate its interval."""
    registry.log_params(
        run.run_id,
        {
            "model_family": best.family,
            "log_target": best.log_target,
            **{f"best.{k}": v for k, v in best.params.items()},
        },
    )
    registry.log_metrics(run.run_id, {"search.best_cv_rmse": best_cv_rmse})
    search = config.search
    pipeline = fit_model(
        best, run.data.train, label=LABEL, seed=search.seed, threads=search.threads
    )
    level = config.interval_level
    half_width = calibrate(pipeline.predict, run.data.calibration, label=LABEL, level=level)
    model = PriceModel(pipeline, half_width=half_width, level=level, model_family=best.family)
    return FittedModel(best, model)


def evaluate(
    *, run: TrainingRun, fitted: FittedModel, config: TrainingConfig, registry: Registry
) -> Evaluation:
    """Test metrics, the drift reference profile and the plots, logged to the run."""
    model, data = fitted.model, run.data
    y_test = data.test[LABEL].to_numpy(dtype=float)
    result = evaluate_predictions(
        y_test,
        model.predict_price(contract_frame(data.test)),
        half_width=model.half_width,
        n_train=len(data.train),
    )
    registry.log_metrics(
        run.run_id, {**run_metrics(result.metrics), "conformal_half_width": model.half_width}
    )
    train_x = contract_frame(data.train)
    profile = build_reference_profile(
        train_x, model.predict_price(train_x), bins=config.profile_bins
    )
    importance = (
        feature_importance(model.pipeline, data.test, label=LABEL, seed=config.search.seed)
        if config.plots
        else None
    )
    artifacts.log_evaluation(
        registry,
        run_id=run.run_id,
        profile=profile,
        y_true=y_test,
        y_pred=result.predictions,
        half_width=model.half_width,
        importance=importance,
    )
    return Evaluation(result.metrics, profile)
