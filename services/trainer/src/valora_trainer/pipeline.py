"""One training run in one process, phase after phase (synchronous: runs in a worker thread).

snapshot -> split -> search -> fit -> calibrate -> evaluate -> artifacts -> register -> gate ->
promote. The ``champion`` alias is set as the very last step, only when the gate passed; the
caller announces it afterwards. An interruption anywhere before leaves the champion untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import pandas as pd
from valora_contracts import GateResult, ModelMetrics

from valora_trainer import phases
from valora_trainer.config import TrainingConfig
from valora_trainer.errors import TrainingCancelledError
from valora_trainer.steps.registry import Registry
from valora_trainer.steps.search import SearchProgress

__all__ = ["TrainingJob", "TrainingOutcome", "run_training"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """What to train: one run for one or more (coalesced) requests."""

    model_name: str
    request_ids: tuple[str, ...]
    reason: str
    trials: int | None = None
    experiment: str = "valora-training"


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    model_version: str
    metrics: ModelMetrics
    gate: GateResult
    promoted: bool
    previous_version: str | None
    best_params: dict[str, object] = field(default_factory=dict)


def run_training(
    *,
    job: TrainingJob,
    frame: pd.DataFrame,
    config: TrainingConfig,
    registry: Registry,
    storage: optuna.storages.BaseStorage | None,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[SearchProgress], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_run: Callable[[str], None] | None = None,
) -> TrainingOutcome:
    """Train, evaluate, register and gate a model; promote it when the gate passes."""

    def stage(name: str) -> None:
        if should_stop():
            raise TrainingCancelledError(f"stopped before {name}")
        logger.info("training stage", extra={"stage": name, "model_name": job.model_name})
        if on_stage is not None:
            on_stage(name)

    stage("snapshot")
    prepared = phases.prepare(
        model_name=job.model_name,
        reason=job.reason,
        request_ids=job.request_ids,
        experiment=job.experiment,
        frame=frame,
        config=config,
        registry=registry,
        on_run=on_run,
    )
    status = "FAILED"
    try:
        stage("search")
        result = phases.search(
            prepared=prepared,
            config=config,
            registry=registry,
            storage=storage,
            n_trials=job.trials or config.search.trials,
            should_stop=should_stop,
            on_progress=on_progress,
        )
        stage("fit")
        candidate = phases.evaluate_and_register(
            prepared=prepared,
            best=result.best,
            best_cv_rmse=result.best_value,
            config=config,
            registry=registry,
            stage=stage,
        )
        stage("gate")
        gate, champion = phases.gate(
            prepared=prepared,
            candidate=candidate,
            config=config,
            registry=registry,
            request_ids=job.request_ids,
        )
        promoted = False
        if gate.passed:
            stage("promote")
            registry.set_champion(job.model_name, candidate.version)  # the run's last step
            promoted = True
        status = "FINISHED"
        return TrainingOutcome(
            run_id=prepared.run_id,
            model_version=candidate.version,
            metrics=candidate.metrics,
            gate=gate,
            promoted=promoted,
            previous_version=champion.version if champion else None,
            best_params={"family": result.best.family, **result.best.params},
        )
    finally:
        final = "KILLED" if status != "FINISHED" and should_stop() else status
        try:
            registry.end_run(prepared.run_id, final)
        except Exception:  # never mask the run's own error
            logger.warning("could not end MLflow run", extra={"run_id": prepared.run_id})
