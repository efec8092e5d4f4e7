"""The steps that prepare a model: snapshot -> split -> search (then
:mod:`.modelling`: fit -> evaluate -> refit).

Each reads and writes only MLflow (the run, its params, metrics and artifacts) and Optuna's
study, so the Kubeflow steps can run them in separate pods. :mod:`.run` chains
them in one process; :mod:`.promotion` takes the result to the registry.

The split (:func:`valora_ml.splitting.hold_out_split`) holds out the newest rows when every row
is dated (``time``: the model then learns a market-time term) and a seeded hash order of the
ids otherwise (``hash``); the run records which in the param ``split.strategy`` and the tag
``valora.split``. No calibration rows are held back: the interval is cross-conformal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import pandas as pd
from valora_ml.model_errors import FeatureError
from valora_ml.splitting import HoldOut, hold_out_split

from valora_trainer.adapters import artifacts
from valora_trainer.adapters.registry import Registry
from valora_trainer.adapters.study_storage import study_name
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.dataset import LABEL, describe_snapshot
from valora_trainer.domain.search import SearchProgress, SearchResult, create_study, run_search
from valora_trainer.errors import InsufficientDataError, RegistryError

__all__ = [
    "SPLIT_TAG",
    "Snapshot",
    "TrainingRun",
    "resume",
    "search",
    "snapshot",
    "split",
]

SPLIT_TAG = "valora.split"
"""Run tag: ``time`` (newest rows held out, market-time term) or ``hash`` (seeded id order)."""

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
    """A started MLflow run and its rows divided into fit and (held-out) test rows."""

    run_id: str
    model_name: str
    snapshot_hash: str
    data: HoldOut = field(repr=False)

    @property
    def all_rows(self) -> pd.DataFrame:
        """Every row of the snapshot (fit, then test): what the served model is fitted on."""
        return pd.concat([self.data.fit, self.data.test], ignore_index=True)


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
    registry.log_params(
        run_id,
        {
            **info.params(),
            "interval_level": config.interval.level,
            "interval.method": config.interval.method,
            "interval.folds": config.interval.folds,
        },
    )
    artifacts.log_snapshot(registry, run_id=run_id, frame=frame)
    return Snapshot(run_id, model_name, info.content_hash, frame)


def _split_rows(frame: pd.DataFrame, config: TrainingConfig) -> HoldOut:
    try:
        return hold_out_split(
            frame, test_fraction=config.split.test_fraction, seed=config.split.seed
        )
    except FeatureError as exc:  # too few rows to hold any out
        raise InsufficientDataError(str(exc)) from exc


def split(*, snap: Snapshot, config: TrainingConfig, registry: Registry) -> TrainingRun:
    """Divide the snapshot into fit and test rows; log the sizes and the strategy."""
    data = _split_rows(snap.frame, config)
    registry.log_params(
        snap.run_id,
        {
            "split.strategy": data.kind,
            "split.fit": len(data.fit),
            "split.test": len(data.test),
            "market_time": data.market_time,
        },
    )
    registry.set_tags(snap.run_id, {SPLIT_TAG: data.kind})
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
        train=run.data.fit,
        label=LABEL,
        config=config.search,
        study=study,
        n_trials=n_trials,
        market_time=run.data.market_time,
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
