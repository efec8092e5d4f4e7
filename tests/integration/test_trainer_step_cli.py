"""Kubeflow-style steps as separate processes sharing only PostgreSQL and MLflow:
snapshot -> two search workers on one Optuna study -> evaluate-gate -> promote."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from test_trainer_support import Follower, synthetic_listings, unique
from valora_contracts import MODELS_PROMOTED, ModelPromoted
from valora_db import create_engine, create_session_factory
from valora_trainer.adapters.study_storage import optuna_storage
from valora_trainer.entrypoints.handlers import handle_listings
from valora_trainer.settings import TrainerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _step(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "valora_trainer",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def test_steps_share_the_study_and_promote(devstack: Any, tmp_path: Path) -> None:
    model_name = unique("it-steps")
    engine = create_engine(devstack.database_url)
    try:
        await handle_listings(
            events=synthetic_listings(800, source=model_name, seed=2),
            sessions=create_session_factory(engine),
            model_name=model_name,
            sources=[model_name],
            new_labels_every=0,
        )
    finally:
        await engine.dispose()
    cfg = tmp_path / "training.yaml"
    cfg.write_text(yaml.safe_dump({"search": {"cv_folds": 2, "trials": 6}}))
    env = {
        **os.environ,
        "VALORA_KAFKA_BOOTSTRAP_SERVERS": devstack.kafka_bootstrap_servers,
        "VALORA_DATABASE_URL": devstack.database_url,
        "VALORA_MLFLOW_TRACKING_URI": devstack.mlflow_tracking_uri,
        "VALORA_MODEL_NAME": model_name,
        "VALORA_TRAINING_SOURCES": f'["{model_name}"]',
        "VALORA_MLFLOW_EXPERIMENT": f"it-steps/{model_name}",
        "VALORA_TRAINING_CONFIG": str(cfg),
        "VALORA_LOG_JSON": "false",
    }
    promoted = Follower(
        devstack.kafka_bootstrap_servers, MODELS_PROMOTED.name, ModelPromoted, model_name
    )
    await promoted.start()
    try:
        snap = await _step(env, "snapshot")
        assert snap["rows"] == 800
        run_id = snap["run_id"]
        workers = await asyncio.gather(
            _step(env, "search-worker", "--run-id", run_id, "--trials", "6"),
            _step(env, "search-worker", "--run-id", run_id, "--trials", "6"),
        )
        storage = optuna_storage(
            TrainerSettings(database_url=devstack.database_url).sync_database_url
        )
        study = optuna.load_study(study_name=f"{model_name}/{run_id}", storage=storage)
        finished = [t for t in study.trials if t.state.is_finished()]
        assert 6 <= len(finished) <= 7  # both workers counted the shared total
        assert all(w["completed"] >= 1 for w in workers)
        gated = await _step(env, "evaluate-gate", "--run-id", run_id)
        assert gated["version"] == "1"
        assert gated["gate"]["passed"] is True
        result = await _step(env, "promote", "--run-id", run_id)
        assert result == {"promoted": True, "version": "1"}
        event = await promoted.wait_for(lambda e: True, timeout_s=60)
        assert event.run_id == run_id
        client = MlflowClient(devstack.mlflow_tracking_uri)
        assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    finally:
        await promoted.stop()
