"""The run's phases, each reading and writing only through MLflow (and Optuna's PostgreSQL
study), so they can run in one process (:func:`valora_trainer.pipeline.run_training`) or as
separate Kubeflow steps (:mod:`valora_trainer.step_cli`).

prepare (snapshot, split, MLflow run) -> search -> evaluate_and_register -> gate -> promote
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from valora_contracts import GateResult, ModelMetrics
from valora_ml.features import FEATURE_COLUMNS, contract_frame
from valora_ml.pricemodel import PriceModel, model_metadata
from valora_ml.profile import PROFILE_FILENAME, build_reference_profile

from valora_trainer.config import TrainingConfig
from valora_trainer.errors import InsufficientDataError
from valora_trainer.steps.data import LABEL, DataSplit, SnapshotInfo, describe_snapshot, split_frame
from valora_trainer.steps.evaluate import (
    calibrate,
    evaluate_predictions,
    feature_importance,
    fit_model,
)
from valora_trainer.steps.gate import ChampionScore, evaluate_gate
from valora_trainer.steps.plots import render_plots
from valora_trainer.steps.registry import ModelRef, Registry
from valora_trainer.steps.search import (
    BestModelSpec,
    SearchProgress,
    SearchResult,
    create_study,
    run_search,
)

__all__ = [
    "SNAPSHOT_ARTIFACT",
    "Candidate",
    "Prepared",
    "evaluate_and_register",
    "gate",
    "prepare",
    "search",
    "split_for",
    "study_name",
]

logger = logging.getLogger(__name__)
SNAPSHOT_ARTIFACT = "snapshot/snapshot.parquet"


@dataclass(frozen=True)
class Prepared:
    run_id: str
    model_name: str
    snapshot: SnapshotInfo
    split: DataSplit


@dataclass(frozen=True)
class Candidate:
    version: str
    metrics: ModelMetrics
    half_width: float


def study_name(model_name: str, run_id: str) -> str:
    return f"{model_name}/{run_id}"


def split_for(frame: pd.DataFrame, config: TrainingConfig) -> DataSplit:
    return split_frame(
        frame,
        calibration_fraction=config.split.calibration_fraction,
        test_fraction=config.split.test_fraction,
        seed=config.split.seed,
    )


def prepare(
    *,
    model_name: str,
    reason: str,
    request_ids: tuple[str, ...],
    experiment: str,
    frame: pd.DataFrame,
    config: TrainingConfig,
    registry: Registry,
    on_run: Callable[[str], None] | None = None,
) -> Prepared:
    """Snapshot (lineage params, the data itself as a run artifact), split, MLflow run."""
    if len(frame) < config.triggers.min_rows:
        raise InsufficientDataError(
            f"{len(frame)} labelled rows, at least {config.triggers.min_rows} needed"
        )
    snapshot = describe_snapshot(frame)
    split = split_for(frame, config)
    run_id = registry.start_run(
        experiment=experiment,
        run_name=f"{model_name}-{reason}",
        tags={
            "valora.model_name": model_name,
            "valora.reason": reason,
            "valora.request_ids": ",".join(request_ids),
            "valora.snapshot.content_hash": snapshot.content_hash,
        },
    )
    if on_run is not None:
        on_run(run_id)
    registry.log_params(
        run_id,
        {
            **snapshot.params(),
            "split.strategy": split.strategy,
            "split.train": len(split.train),
            "split.calibration": len(split.calibration),
            "split.test": len(split.test),
            "interval_level": config.interval_level,
        },
    )
    with tempfile.TemporaryDirectory(prefix="valora-snapshot-") as tmp:
        path = Path(tmp) / "snapshot"
        path.mkdir()
        frame.to_parquet(path / Path(SNAPSHOT_ARTIFACT).name, index=False)
        registry.log_artifacts(run_id, Path(tmp))
    return Prepared(run_id, model_name, snapshot, split)


def search(
    *,
    prepared: Prepared,
    config: TrainingConfig,
    registry: Registry,
    storage: optuna.storages.BaseStorage | None,
    n_trials: int,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[SearchProgress], None] | None = None,
) -> SearchResult:
    """Join (or create) the run's study and run trials until it holds ``n_trials``."""
    study = create_study(
        study_name=study_name(prepared.model_name, prepared.run_id),
        storage=storage,
        config=config.search,
    )
    result = run_search(
        train=prepared.split.train,
        label=LABEL,
        config=config.search,
        study=study,
        n_trials=n_trials,
        should_stop=should_stop,
        on_progress=on_progress,
    )
    for trial in study.get_trials(deepcopy=False):
        if trial.value is not None:
            registry.log_metrics(
                prepared.run_id, {"search.trial_cv_rmse": trial.value}, trial.number
            )
    with tempfile.TemporaryDirectory(prefix="valora-search-") as tmp:
        result.trials.to_csv(Path(tmp) / "search_trials.csv", index=False)
        registry.log_artifacts(prepared.run_id, Path(tmp))
    # Metrics, not params: several workers may log them for the same run.
    registry.log_metrics(
        prepared.run_id,
        {
            "search.trials_requested": float(n_trials),
            "search.completed": float(result.completed),
            "search.pruned": float(result.pruned),
        },
    )
    return result


def log_best(registry: Registry, run_id: str, best: BestModelSpec, value: float) -> None:
    registry.log_params(
        run_id,
        {
            "model_family": best.family,
            "log_target": best.log_target,
            **{f"best.{k}": v for k, v in best.params.items()},
        },
    )
    registry.log_metrics(run_id, {"search.best_cv_rmse": value})


def evaluate_and_register(
    *,
    prepared: Prepared,
    best: BestModelSpec,
    best_cv_rmse: float,
    config: TrainingConfig,
    registry: Registry,
    stage: Callable[[str], None] = lambda _: None,
) -> Candidate:
    """Fit the best spec, calibrate, evaluate, log plots/profile, register a model version."""
    split, run_id = prepared.split, prepared.run_id
    log_best(registry, run_id, best, best_cv_rmse)
    threads, seed = config.search.threads, config.search.seed
    pipeline = fit_model(best, split.train, label=LABEL, seed=seed, threads=threads)
    half_width = calibrate(
        pipeline.predict, split.calibration, label=LABEL, level=config.interval_level
    )
    model = PriceModel(
        pipeline, half_width=half_width, level=config.interval_level, model_family=best.family
    )
    stage("evaluate")
    y_test = split.test[LABEL].to_numpy(dtype=float)
    evaluation = evaluate_predictions(
        y_test,
        model.predict_price(contract_frame(split.test)),
        half_width=half_width,
        n_train=len(split.train),
    )
    metrics = {f"test_{k}": float(v) for k, v in evaluation.metrics.model_dump().items()}
    registry.log_metrics(run_id, {**metrics, "conformal_half_width": half_width})
    with tempfile.TemporaryDirectory(prefix="valora-train-") as tmp:
        out = Path(tmp)
        train_x = contract_frame(split.train)
        profile = build_reference_profile(
            train_x, model.predict_price(train_x), bins=config.profile_bins
        )
        profile_path = out / PROFILE_FILENAME
        profile_path.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
        if config.plots:
            importance = feature_importance(pipeline, split.test, label=LABEL, seed=seed)
            render_plots(
                y_true=y_test,
                y_pred=evaluation.predictions,
                half_width=half_width,
                importance=importance,
                out_dir=out,
            )
        registry.log_artifacts(run_id, out)
        stage("register")
        version = registry.register_model(
            run_id=run_id,
            model_name=prepared.model_name,
            model=model,
            example=train_x.head(5)[list(FEATURE_COLUMNS)],
            metadata=model_metadata(
                half_width=half_width,
                level=config.interval_level,
                model_family=best.family,
                extra={"snapshot_hash": prepared.snapshot.content_hash, "run_id": run_id},
            ),
            profile_path=profile_path,
        )
    return Candidate(version, evaluation.metrics, half_width)


def gate(
    *,
    prepared: Prepared,
    candidate: Candidate,
    config: TrainingConfig,
    registry: Registry,
    request_ids: tuple[str, ...] = (),
) -> tuple[GateResult, ModelRef | None]:
    """Absolute thresholds and the champion on the same test rows; tags the version."""
    champion = registry.champion(prepared.model_name)
    score = None
    if champion is not None:
        predict = registry.load_predictor(prepared.model_name, champion.version)
        test = prepared.split.test
        rmse = evaluate_predictions(
            test[LABEL].to_numpy(dtype=float),
            predict(contract_frame(test)),
            half_width=0.0,
            n_train=0,
        ).metrics.rmse
        score = ChampionScore(version=champion.version, rmse=rmse)
    result = evaluate_gate(metrics=candidate.metrics, config=config.gate, champion=score)
    registry.set_version_tags(
        prepared.model_name,
        candidate.version,
        {
            "valora.gate_passed": str(result.passed).lower(),
            "valora.gate_reasons": "; ".join(result.reasons)[:5000],
            "valora.request_ids": ",".join(request_ids),
        },
    )
    registry.set_tags(
        prepared.run_id,
        {"valora.gate_passed": str(result.passed).lower(), "valora.version": candidate.version},
    )
    logger.info(
        "gate evaluated",
        extra={
            "model_name": prepared.model_name,
            "version": candidate.version,
            "passed": result.passed,
            "reasons": result.reasons,
            "champion_rmse": result.champion_rmse,
            "rmse": candidate.metrics.rmse,
        },
    )
    return result, champion
