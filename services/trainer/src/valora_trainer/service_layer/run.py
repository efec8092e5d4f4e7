"""One training run: snapshot -> split -> search -> fit -> evaluate -> refit -> register -> gate
-> promote (or, with ``promotion: shadow`` and a champion to shadow, nominate the challenger).

:func:`run_training` is the whole run in one process, synchronous (the runner runs it in a
thread, see :mod:`valora_trainer.entrypoints.runner`). The steps are in
:mod:`.training` (data and search), :mod:`.modelling` (the gate
model fitted and judged on held-out rows, then the served model refitted on every row) and
:mod:`.promotion` (the registry);
the Kubeflow steps (:mod:`valora_trainer.entrypoints.step_cli`) run the same functions in
separate pods. The ``champion`` alias is set by :func:`~.promotion.promote`, the
last step, only when the gate passed: an interruption anywhere before leaves it untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import pandas as pd
from valora_contracts import ChallengerChanged, GateResult, ModelMetrics, ModelPromoted

from valora_trainer.adapters.publisher import Publisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.search import SearchProgress
from valora_trainer.errors import TrainingCancelledError
from valora_trainer.service_layer import challengers, modelling, promotion, training

__all__ = ["RunControl", "RunDeps", "TrainingJob", "TrainingOutcome", "run_training"]

logger = logging.getLogger(__name__)


def _never() -> bool:
    return False


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainingJob:
    """What to train: one run for one or more (coalesced) requests."""

    model_name: str
    reason: str
    experiment: str
    request_ids: tuple[str, ...] = ()
    trials: int | None = None
    trace_id: str | None = None
    promotion: str | None = None
    """``shadow`` or ``direct``: the request's override of the config's ``promotion``."""


@dataclass(frozen=True)
class RunDeps:
    """What the steps use: the training config, MLflow, Optuna's study storage, Kafka."""

    config: TrainingConfig
    registry: Registry
    storage: optuna.storages.BaseStorage | None
    publisher: Publisher


@dataclass(frozen=True)
class RunControl:
    """How the caller follows a run and stops it (checked between steps and between trials)."""

    should_stop: Callable[[], bool] = _never
    on_stage: Callable[[str], None] = _ignore
    on_run: Callable[[str], None] = _ignore
    on_progress: Callable[[SearchProgress], None] | None = None

    def enter(self, stage: str, *, model_name: str) -> None:
        """Start ``stage``, unless the caller asked to stop."""
        if self.should_stop():
            raise TrainingCancelledError(f"stopped before {stage}")
        logger.info("training stage", extra={"stage": stage, "model_name": model_name})
        self.on_stage(stage)


@dataclass(frozen=True)
class TrainingOutcome:
    run_id: str
    model_version: str
    metrics: ModelMetrics
    gate: GateResult
    promoted: ModelPromoted | None
    challenger: ChallengerChanged | None = None


def run_training(
    *, job: TrainingJob, frame: pd.DataFrame, deps: RunDeps, control: RunControl | None = None
) -> TrainingOutcome:
    """Train, evaluate, register and gate a model; promote it when the gate passes."""
    control = control or RunControl()
    config, registry = deps.config, deps.registry

    def enter(stage: str) -> None:
        control.enter(stage, model_name=job.model_name)

    enter("snapshot")
    snap = training.snapshot(
        model_name=job.model_name,
        reason=job.reason,
        request_ids=job.request_ids,
        experiment=job.experiment,
        frame=frame,
        config=config,
        registry=registry,
    )
    control.on_run(snap.run_id)
    status = "FAILED"
    try:
        run = training.split(snap=snap, config=config, registry=registry)
        enter("search")
        found = training.search(
            run=run,
            config=config,
            registry=registry,
            storage=deps.storage,
            n_trials=job.trials or config.search.trials,
            should_stop=control.should_stop,
            on_progress=control.on_progress,
        )
        enter("fit")
        gate_model = modelling.fit(
            run=run,
            best=found.best,
            best_cv_rmse=found.best_value,
            config=config,
            registry=registry,
        )
        enter("evaluate")
        evaluation = modelling.evaluate(run=run, gate=gate_model, config=config, registry=registry)
        enter("refit")
        served = modelling.refit(run=run, gate=gate_model, config=config, registry=registry)
        enter("register")
        version = promotion.register(
            run=run, gate=gate_model, served=served, registry=registry, evaluation=evaluation
        )
        enter("gate")
        verdict = promotion.gate(
            run=run,
            version=version,
            evaluation=evaluation,
            config=config.gate,
            registry=registry,
            request_ids=job.request_ids,
        )
        if verdict.passed:
            enter("promote")
        status = "FINISHED"  # trained and gated: a failed announcement is promote's to heal
        if not verdict.passed:
            return TrainingOutcome(run.run_id, version, evaluation.metrics, verdict, None)
        return _promote_or_nominate(
            job=job, deps=deps, run_id=run.run_id, version=version, metrics=evaluation.metrics,
            verdict=verdict,
        )  # fmt: skip
    finally:
        _end_run(registry, snap.run_id, status, stopped=control.should_stop())


def _promote_or_nominate(
    *,
    job: TrainingJob,
    deps: RunDeps,
    run_id: str,
    version: str,
    metrics: ModelMetrics,
    verdict: GateResult,
) -> TrainingOutcome:
    """A gated model: the challenger when ``promotion`` is ``shadow`` and a champion exists to
    shadow, else the champion."""
    registry = deps.registry
    shadow = (job.promotion or deps.config.promotion) == "shadow"
    if shadow and registry.champion(job.model_name) is not None:
        nominated = challengers.nominate(
            model_name=job.model_name,
            version=version,
            run_id=run_id,
            metrics=metrics,
            registry=registry,
            publisher=deps.publisher,
            trace_id=job.trace_id,
        )
        return TrainingOutcome(run_id, version, metrics, verdict, None, challenger=nominated)
    promoted = promotion.promote(
        model_name=job.model_name,
        version=version,
        run_id=run_id,
        metrics=metrics,
        registry=registry,
        publisher=deps.publisher,
        trace_id=job.trace_id,
    )
    return TrainingOutcome(run_id, version, metrics, verdict, promoted)


def _end_run(registry: Registry, run_id: str, status: str, *, stopped: bool) -> None:
    final = "KILLED" if status != "FINISHED" and stopped else status
    try:
        registry.end_run(run_id, final)
    except Exception:  # never mask the run's own error
        logger.warning("could not end MLflow run", extra={"run_id": run_id}, exc_info=True)
