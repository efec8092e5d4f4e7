"""Single pipeline steps for Kubeflow: ``python -m valora_trainer STEP ...``.

Every step reads and writes through PostgreSQL (training store, Optuna study) and MLflow (run,
snapshot artifact, registry), never through local files, so steps can run in separate pods and
``search-worker`` can run on many pods at once against the same study::

    snapshot [--model NAME]            -> {"run_id": ...}  (MLflow run + snapshot.parquet)
    search-worker --run-id ID          joins the run's Optuna study until it holds N trials
    evaluate-gate --run-id ID          fit best, evaluate, register, gate -> {"version", ...}
    promote --run-id ID                alias champion (if the gate passed), models.promoted.v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from valora_contracts import MODELS_PROMOTED, ModelPromoted
from valora_db import create_engine, create_session_factory, session_scope
from valora_messaging import OutgoingRecord, create_broker, encode_event, publish_many
from valora_observability import configure_logging

from valora_trainer import phases
from valora_trainer.announce import ANNOUNCED_TAG, metrics_from_run
from valora_trainer.bootstrap import build_registry, build_storage_factory
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.errors import RegistryError
from valora_trainer.settings import TrainerSettings
from valora_trainer.steps.data import describe_snapshot
from valora_trainer.steps.registry import Registry
from valora_trainer.steps.search import BestModelSpec
from valora_trainer.store import load_labelled_frame

__all__ = ["STEPS", "main"]

STEPS = ("snapshot", "search-worker", "evaluate-gate", "promote")


def _load_prepared(registry: Registry, run_id: str, config: TrainingConfig) -> phases.Prepared:
    model_name = registry.run_tags(run_id).get("valora.model_name")
    if not model_name:
        raise RegistryError(f"run {run_id} is not a Valora training run")
    with tempfile.TemporaryDirectory(prefix="valora-step-") as tmp:
        path = registry.download_artifact(run_id, phases.SNAPSHOT_ARTIFACT, Path(tmp))
        frame = pd.read_parquet(path)
    return phases.Prepared(
        run_id, model_name, describe_snapshot(frame), phases.split_for(frame, config)
    )


async def _load_frame(settings: TrainerSettings) -> pd.DataFrame:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            return await load_labelled_frame(session, sources=settings.training_sources)
    finally:
        await engine.dispose()


async def _publish_promoted(settings: TrainerSettings, event: ModelPromoted) -> None:
    broker = create_broker(settings=settings, client_id=f"{settings.service_name}-promote")
    await broker.connect()
    try:
        record = OutgoingRecord(
            MODELS_PROMOTED.name, encode_event(event), event.model_name.encode()
        )
        await publish_many(broker=broker, records=[record])
    finally:
        await broker.stop()


def _promote(settings: TrainerSettings, registry: Registry, run_id: str) -> dict[str, Any]:
    tags = registry.run_tags(run_id)
    model_name, version = tags.get("valora.model_name", ""), tags.get("valora.version", "")
    if tags.get("valora.gate_passed") != "true" or not version:
        return {"promoted": False, "reason": "gate did not pass", "version": version or None}
    champion = registry.champion(model_name)
    registry.set_champion(model_name, version)
    event = ModelPromoted(
        model_name=model_name,
        model_version=version,
        run_id=run_id,
        previous_version=champion.version if champion else None,
        metrics=metrics_from_run(registry.run_metrics(run_id)),
    )
    asyncio.run(_publish_promoted(settings, event))
    registry.set_version_tags(model_name, version, {ANNOUNCED_TAG: "true"})
    return {"promoted": True, "version": version}


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
    registry = build_registry(settings)
    if args.step != "snapshot" and not args.run_id:
        parser.error(f"{args.step} needs --run-id")
    out: dict[str, Any]
    if args.step == "snapshot":
        prepared = phases.prepare(
            model_name=args.model or settings.model_name,
            reason="schedule",
            request_ids=(),
            experiment=settings.experiment_name,
            frame=asyncio.run(_load_frame(settings)),
            config=config,
            registry=registry,
        )
        out = {"run_id": prepared.run_id, "rows": prepared.snapshot.rows}
    elif args.step == "search-worker":
        prepared = _load_prepared(registry, args.run_id, config)
        result = phases.search(
            prepared=prepared,
            config=config,
            registry=registry,
            storage=build_storage_factory(settings)(),
            n_trials=args.trials or config.search.trials,
        )
        out = {"best_cv_rmse": result.best_value, "completed": result.completed}
    elif args.step == "evaluate-gate":
        prepared = _load_prepared(registry, args.run_id, config)
        study = optuna.load_study(
            study_name=phases.study_name(prepared.model_name, args.run_id),
            storage=build_storage_factory(settings)(),
        )
        best = BestModelSpec.from_optuna(study.best_trial.params)
        candidate = phases.evaluate_and_register(
            prepared=prepared,
            best=best,
            best_cv_rmse=float(study.best_value),
            config=config,
            registry=registry,
        )
        gate, _ = phases.gate(
            prepared=prepared, candidate=candidate, config=config, registry=registry
        )
        out = {
            "version": candidate.version,
            "gate": gate.model_dump(),
            "metrics": candidate.metrics.model_dump(),
        }
    else:
        out = _promote(settings, registry, args.run_id)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
