"""Single pipeline steps for Kubeflow: ``python -m valora_trainer STEP ...``.

Every step reads and writes through PostgreSQL (training store, Optuna study) and MLflow (run,
snapshot artifact, registry), never through local files, so steps can run in separate pods and
``search-worker`` can run on many pods at once against the same study. Each calls the same
functions as the in-process run (:mod:`valora_trainer.service_layer.run`)::

    snapshot [--model NAME]            -> {"run_id": ...}  snapshot + split (MLflow run)
    search-worker --run-id ID          search: joins the run's study until it holds N trials
    evaluate-gate --run-id ID          fit, evaluate, refit, register, gate -> {"version", ...}
    promote --run-id ID                promote (if the gate passed): alias, models.promoted.v1
                                       (promotion: shadow: alias challenger, models.challengers.v1)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import optuna
import pandas as pd
from valora_db import create_engine, create_session_factory, session_scope
from valora_ml.tracking import use_tracking_server
from valora_observability import configure_logging

from valora_trainer.adapters.publisher import StepPublisher
from valora_trainer.adapters.registry import MlflowRegistry, Registry
from valora_trainer.adapters.study_storage import StudyStorage, load_study, study_name
from valora_trainer.adapters.training_store import load_labelled_frame
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.domain.metrics import metrics_from_run
from valora_trainer.domain.search import best_of, create_study
from valora_trainer.service_layer import challengers, modelling, promotion, training
from valora_trainer.settings import TrainerSettings

__all__ = ["STEPS", "main"]

STEPS = ("snapshot", "search-worker", "evaluate-gate", "promote")


async def _load_frame(settings: TrainerSettings) -> pd.DataFrame:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            return await load_labelled_frame(session, sources=settings.training_sources)
    finally:
        await engine.dispose()


def _snapshot(
    *, settings: TrainerSettings, config: TrainingConfig, registry: Registry, model: str | None
) -> dict[str, Any]:
    snap = training.snapshot(
        model_name=model or settings.model_name,
        reason="schedule",
        request_ids=(),
        experiment=settings.experiment_name,
        frame=asyncio.run(_load_frame(settings)),
        config=config,
        registry=registry,
    )
    training.split(snap=snap, config=config, registry=registry)
    # The study (and, on a fresh database, Optuna's tables) exists before the search workers
    # start side by side: two workers creating the tables at once collide.
    create_study(
        study_name=study_name(snap.model_name, snap.run_id),
        storage=_storage(settings),
        config=config.search,
    )
    return {"run_id": snap.run_id, "rows": len(snap.frame)}


def _search_worker(
    *,
    settings: TrainerSettings,
    config: TrainingConfig,
    registry: Registry,
    run_id: str,
    trials: int | None,
) -> dict[str, Any]:
    result = training.search(
        run=training.resume(run_id=run_id, config=config, registry=registry),
        config=config,
        registry=registry,
        storage=_storage(settings),
        n_trials=trials or config.search.trials,
    )
    return {"best_cv_rmse": result.best_value, "completed": result.completed}


def _evaluate_gate(
    *, settings: TrainerSettings, config: TrainingConfig, registry: Registry, run_id: str
) -> dict[str, Any]:
    run = training.resume(run_id=run_id, config=config, registry=registry)
    study = load_study(model_name=run.model_name, run_id=run_id, storage=_storage(settings))
    best, best_cv_rmse = best_of(study)
    gate_model = modelling.fit(
        run=run, best=best, best_cv_rmse=best_cv_rmse, config=config, registry=registry
    )
    evaluation = modelling.evaluate(run=run, gate=gate_model, config=config, registry=registry)
    served = modelling.refit(run=run, gate=gate_model, config=config, registry=registry)
    version = promotion.register(
        run=run, gate=gate_model, served=served, registry=registry, evaluation=evaluation
    )
    verdict = promotion.gate(
        run=run, version=version, evaluation=evaluation, config=config.gate, registry=registry
    )
    return {
        "version": version,
        "gate": verdict.model_dump(),
        "metrics": evaluation.metrics.model_dump(),
    }


def _promote(
    *, settings: TrainerSettings, config: TrainingConfig, registry: Registry, run_id: str
) -> dict[str, Any]:
    """The champion, or with ``promotion: shadow`` and a champion to shadow, the challenger."""
    tags = registry.run_tags(run_id)
    model_name, version = tags.get("valora.model_name", ""), tags.get("valora.version", "")
    if tags.get("valora.gate_passed") != "true" or not version:
        return {"promoted": False, "reason": "gate did not pass", "version": version or None}
    publisher = StepPublisher(settings, client_id=f"{settings.service_name}-promote")
    metrics = metrics_from_run(registry.run_metrics(run_id))
    if config.promotion == "shadow" and registry.champion(model_name) is not None:
        challengers.nominate(
            model_name=model_name, version=version, run_id=run_id, metrics=metrics,
            registry=registry, publisher=publisher,
        )  # fmt: skip
        return {"promoted": False, "challenger": True, "version": version}
    promotion.promote(
        model_name=model_name,
        version=version,
        run_id=run_id,
        metrics=metrics,
        registry=registry,
        publisher=publisher,
    )
    return {"promoted": True, "version": version}


def _storage(settings: TrainerSettings) -> optuna.storages.BaseStorage:
    return StudyStorage(settings.sync_database_url, schema=settings.optuna_schema)()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m valora_trainer", description=__doc__)
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--run-id")
    parser.add_argument("--model", help="model name (default: VALORA_MODEL_NAME)")
    parser.add_argument("--trials", type=int, help="total trials of the study")
    args = parser.parse_args(argv)
    settings = TrainerSettings()
    configure_logging(
        service=f"{settings.service_name}-{args.step}",
        level=settings.log_level,
        json=settings.log_json,
    )
    config = load_config(settings.training_config)
    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    registry = MlflowRegistry(settings.mlflow_url_str)
    if args.step != "snapshot" and not args.run_id:
        parser.error(f"{args.step} needs --run-id")
    s, r = settings, registry
    if args.step == "snapshot":
        out = _snapshot(settings=s, config=config, registry=r, model=args.model)
    elif args.step == "search-worker":
        out = _search_worker(
            settings=s, config=config, registry=r, run_id=args.run_id, trials=args.trials
        )
    elif args.step == "evaluate-gate":
        out = _evaluate_gate(settings=s, config=config, registry=r, run_id=args.run_id)
    else:
        out = _promote(settings=s, config=config, registry=r, run_id=args.run_id)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
