"""The whole run (``run_training``) with a fake registry and an in-memory study; the runner's
thread helper and the request handler's model filter."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_trainer_steps import store_frame
from valora_contracts import TrainingRequested
from valora_ml.pricemodel import PriceModel
from valora_trainer.announce import metrics_from_run
from valora_trainer.config import load_config
from valora_trainer.errors import InsufficientDataError, TrainingCancelledError
from valora_trainer.handlers import handle_training_request
from valora_trainer.pipeline import TrainingJob, run_training
from valora_trainer.steps.registry import ModelRef
from valora_trainer.threads import run_in_daemon_thread

pytestmark = pytest.mark.unit


class FakeRegistry:
    """In-memory stand-in for MLflow: runs, versions, aliases."""

    def __init__(self, champion_predict: Any = None) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.alias: str | None = None
        self.champion_predict = champion_predict
        self.calls: list[str] = []
        if champion_predict is not None:
            self.versions["1"] = {"run_id": "r0", "tags": {}}
            self.alias = "1"

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        run_id = f"r{len(self.runs) + 1}"
        self.runs[run_id] = {"params": {}, "metrics": {}, "tags": dict(tags), "artifacts": []}
        return run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.runs[run_id]["params"].update(params)

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> None:
        self.runs[run_id]["metrics"].update(metrics)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.runs[run_id]["tags"].update(tags)

    def log_artifacts(self, run_id: str, local_dir: Path) -> None:
        found = [str(p.relative_to(local_dir)) for p in local_dir.rglob("*") if p.is_file()]
        self.runs[run_id]["artifacts"] = sorted([*self.runs[run_id]["artifacts"], *found])

    def end_run(self, run_id: str, status: str) -> None:
        self.runs[run_id]["status"] = status

    def register_model(
        self,
        *,
        run_id: str,
        model_name: str,
        model: PriceModel,
        example: pd.DataFrame,
        metadata: Mapping[str, Any],
        profile_path: Path,
    ) -> str:
        version = str(len(self.versions) + 1)
        self.versions[version] = {
            "run_id": run_id,
            "tags": {},
            "model": model,
            "metadata": metadata,
            "example": example,
        }
        self.calls.append("register")
        return version

    def champion(self, model_name: str) -> ModelRef | None:
        if self.alias is None:
            return None
        v = self.versions[self.alias]
        return ModelRef(self.alias, v["run_id"], v["tags"])

    def get_version(self, model_name: str, version: str) -> ModelRef:
        v = self.versions[version]
        return ModelRef(version, v["run_id"], v["tags"])

    def load_predictor(self, model_name: str, version: str) -> Any:
        if version == "1" and self.champion_predict is not None:
            return self.champion_predict
        return self.versions[version]["model"].predict_price

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        self.versions[version]["tags"].update(tags)

    def set_champion(self, model_name: str, version: str) -> None:
        self.calls.append("set_champion")
        self.alias = version

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.runs[run_id]["metrics"])


def small_config(**gate: Any) -> Any:
    return load_config(
        overrides={
            "search": {
                "trials": 2,
                "cv_folds": 2,
                "families": {
                    "random_forest": {
                        "n_estimators": {"type": "int", "low": 20, "high": 20, "step": 1}
                    },
                    "hist_gradient_boosting": {
                        "max_iter": {"type": "int", "low": 50, "high": 50, "step": 1}
                    },
                },
            },
            "triggers": {"min_rows": 50},
            "gate": {"min_r2": 0.5, "max_mape": 0.5, "min_coverage": 0.5, **gate},
        }
    )


JOB = TrainingJob(model_name="m", request_ids=("a", "b"), reason="manual")


def test_first_run_registers_and_promotes_with_lineage_and_artifacts() -> None:
    registry = FakeRegistry()
    stages: list[str] = []
    outcome = run_training(
        job=JOB,
        frame=store_frame(400, timed=True),
        config=small_config(),
        registry=registry,
        storage=None,
        on_stage=stages.append,
    )
    assert outcome.promoted
    assert outcome.model_version == "1"
    assert outcome.previous_version is None
    assert registry.alias == "1"
    assert registry.calls == ["register", "set_champion"]  # alias is the last step
    assert stages == ["snapshot", "search", "fit", "evaluate", "register", "gate", "promote"]
    run = registry.runs[outcome.run_id]
    assert run["params"]["snapshot.rows"] == "400"
    assert run["params"]["split.strategy"] == "time"
    assert len(run["params"]["snapshot.content_hash"]) == 64
    assert run["status"] == "FINISHED"
    assert run["artifacts"] == [
        "feature_importance.png",
        "predicted_vs_actual.png",
        "reference_profile.json",
        "residuals.png",
        "search_trials.csv",
        "snapshot/snapshot.parquet",
    ]
    version = registry.versions["1"]
    assert version["tags"]["valora.gate_passed"] == "true"
    assert version["metadata"]["valora"]["conformal_half_width"] > 0
    assert list(version["example"].columns) == [
        "area",
        "bedrooms",
        "bathrooms",
        "age",
        "garage",
        "neighbourhood",
    ]
    assert outcome.metrics.n_train == 260


def test_challenger_worse_than_champion_is_registered_but_not_promoted() -> None:
    frame = store_frame(400, timed=True)
    oracle = frame.set_index("listing_id")["price"]

    def perfect(x: pd.DataFrame) -> np.ndarray[Any, Any]:  # the champion knows the labels
        return np.asarray(oracle.loc[frame.loc[x.index, "listing_id"]].to_numpy(), dtype=float)

    registry = FakeRegistry(champion_predict=perfect)
    outcome = run_training(
        job=JOB, frame=frame, config=small_config(), registry=registry, storage=None
    )
    assert not outcome.promoted
    assert outcome.gate.champion_version == "1"
    assert outcome.gate.champion_rmse == 0.0
    assert registry.alias == "1"
    assert "set_champion" not in registry.calls
    assert registry.versions[outcome.model_version]["tags"]["valora.gate_passed"] == "false"


def test_too_few_rows_and_cancellation() -> None:
    with pytest.raises(InsufficientDataError):
        run_training(
            job=JOB,
            frame=store_frame(20),
            config=small_config(),
            registry=FakeRegistry(),
            storage=None,
        )
    registry = FakeRegistry()
    with pytest.raises(TrainingCancelledError):
        run_training(
            job=JOB,
            frame=store_frame(300),
            config=small_config(),
            registry=registry,
            storage=None,
            should_stop=lambda: True,
        )
    assert registry.alias is None


async def test_run_in_daemon_thread_returns_and_raises() -> None:
    assert await run_in_daemon_thread(lambda: 41 + 1, name="t") == 42

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        await run_in_daemon_thread(boom, name="t")


def test_metrics_from_run() -> None:
    m = metrics_from_run({"test_rmse": 1.0, "test_interval_coverage": 0.9, "test_n_train": 5})
    assert (m.rmse, m.interval_coverage, m.n_train) == (1.0, 0.9, 5)


async def test_requests_for_other_models_are_ignored_without_touching_the_db() -> None:
    event = TrainingRequested(model_name="other", reason="manual")
    woke: list[bool] = []
    recorded = await handle_training_request(
        event=event,
        sessions=None,  # type: ignore[arg-type]
        model_names=["mine"],
        wake=lambda: woke.append(True),
    )
    assert recorded is False
    assert woke == []
    await asyncio.sleep(0)
