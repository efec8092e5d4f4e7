"""The whole run (``run_training``) and ``promote`` with a fake registry and publisher (the real
Protocols) and an in-memory study; the thread helpers and the request handler's model filter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_trainer_steps import store_frame
from valora_contracts import MODELS_PROMOTED, ModelMetrics, ModelPromoted, TrainingRequested
from valora_messaging import OutgoingRecord
from valora_ml.integrity import MODEL_SHA256_TAG
from valora_ml.pricemodel import PriceModel
from valora_ml.profile import ReferenceProfile
from valora_ml.registry_ref import ModelRef
from valora_trainer.adapters.publisher import Publisher, ThreadPublisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.domain.metrics import metrics_from_run, run_metrics
from valora_trainer.entrypoints.handlers import handle_training_request
from valora_trainer.entrypoints.threads import run_in_daemon_thread
from valora_trainer.errors import InsufficientDataError, TrainingCancelledError
from valora_trainer.promotion import ANNOUNCED_TAG, promote
from valora_trainer.run import RunControl, RunDeps, TrainingJob, run_training

pytestmark = pytest.mark.unit


class FakeRegistry:
    """In-memory stand-in for MLflow: runs, versions, aliases; ``log`` records the effects that
    must happen in order (register, alias, announced tag)."""

    def __init__(self, log: list[str], champion_predict: Any = None) -> None:
        self.log = log
        self.runs: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.alias: str | None = None
        self.champion_predict = champion_predict
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
            "profile": profile_path.read_text(encoding="utf-8"),
        }
        self.log.append(f"register {version}")
        return version

    def champion(self, model_name: str) -> ModelRef | None:
        if self.alias is None:
            return None
        v = self.versions[self.alias]
        return ModelRef(name=model_name, version=self.alias, run_id=v["run_id"], tags=v["tags"])

    def model_sha256(self, model_name: str, version: str) -> str | None:
        tags: dict[str, str] = self.versions[version]["tags"]
        return tags.get(MODEL_SHA256_TAG)

    def load_predictor(self, model_name: str, version: str) -> Any:
        if version == "1" and self.champion_predict is not None:
            return self.champion_predict
        return self.versions[version]["model"].predict_price

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        self.versions[version]["tags"].update(tags)
        if ANNOUNCED_TAG in tags:
            self.log.append(f"announced {version}")

    def set_champion(self, model_name: str, version: str) -> None:
        self.log.append(f"alias {version}")
        self.alias = version

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.runs[run_id]["metrics"])

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.runs[run_id]["tags"])

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path:
        raise FileNotFoundError(path)  # the in-process run never reads its artifacts back


class FakePublisher:
    def __init__(self, log: list[str], *, fail: bool = False) -> None:
        self.log = log
        self.fail = fail
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.records.extend(records)
        self.log.extend(f"publish {r.topic}" for r in records)

    def promoted(self) -> list[ModelPromoted]:
        return [
            ModelPromoted.model_validate_json(r.value)
            for r in self.records
            if r.topic == MODELS_PROMOTED.name
        ]


def small_config(**gate: Any) -> TrainingConfig:
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


JOB = TrainingJob(
    model_name="m", reason="manual", experiment="e", request_ids=("a", "b"), trace_id="t-1"
)


def _deps(registry: Registry, publisher: Publisher) -> RunDeps:
    return RunDeps(config=small_config(), registry=registry, storage=None, publisher=publisher)


def test_first_run_registers_promotes_and_announces_with_lineage_and_artifacts() -> None:
    log: list[str] = []
    registry, publisher = FakeRegistry(log), FakePublisher(log)
    stages: list[str] = []
    outcome = run_training(
        job=JOB,
        frame=store_frame(400, timed=True),
        deps=_deps(registry, publisher),
        control=RunControl(on_stage=stages.append),
    )
    assert stages == ["snapshot", "search", "fit", "evaluate", "register", "gate", "promote"]
    # the alias is the run's last registry change; the event follows it, the tag comes last
    assert log == ["register 1", "alias 1", f"publish {MODELS_PROMOTED.name}", "announced 1"]
    assert publisher.promoted() == [outcome.promoted]
    assert outcome.promoted is not None
    event = outcome.promoted
    assert (event.model_version, event.previous_version, event.run_id) == ("1", None, "r1")
    assert event.metrics == outcome.metrics
    assert event.trace_id == "t-1"
    assert publisher.records[0].key == b"m"
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
    assert metrics_from_run(run["metrics"]) == outcome.metrics  # what `promote` reads back
    version = registry.versions["1"]
    assert version["tags"]["valora.gate_passed"] == "true"
    assert version["tags"]["valora.request_ids"] == "a,b"
    assert version["metadata"]["valora"]["conformal_half_width"] > 0
    profile = ReferenceProfile.model_validate_json(version["profile"])
    assert profile.n_rows == 260  # the profile of the training rows ships with the model
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

    log: list[str] = []
    registry, publisher = FakeRegistry(log, champion_predict=perfect), FakePublisher(log)
    outcome = run_training(job=JOB, frame=frame, deps=_deps(registry, publisher))
    assert outcome.promoted is None
    assert outcome.gate.champion_version == "1"
    assert outcome.gate.champion_rmse == 0.0
    assert registry.alias == "1"
    assert log == ["register 2"]  # no alias, nothing published
    assert registry.versions[outcome.model_version]["tags"]["valora.gate_passed"] == "false"


def test_too_few_rows_fail_before_any_mlflow_run() -> None:
    registry = FakeRegistry([])
    with pytest.raises(InsufficientDataError):
        run_training(job=JOB, frame=store_frame(20), deps=_deps(registry, FakePublisher([])))
    assert registry.runs == {}


def test_a_stop_before_promotion_kills_the_run_and_keeps_the_champion() -> None:
    """Stop requested while the version registers: the gate never runs, nothing is promoted."""
    log: list[str] = []
    registry, publisher = FakeRegistry(log), FakePublisher(log)
    stop = threading.Event()

    def on_stage(stage: str) -> None:
        if stage == "register":
            stop.set()

    with pytest.raises(TrainingCancelledError, match="before gate"):
        run_training(
            job=JOB,
            frame=store_frame(300),
            deps=_deps(registry, publisher),
            control=RunControl(should_stop=stop.is_set, on_stage=on_stage),
        )
    assert log == ["register 1"]
    assert registry.alias is None
    assert registry.runs["r1"]["status"] == "KILLED"


def _registry_with_champion(log: list[str]) -> FakeRegistry:
    registry = FakeRegistry(log)
    registry.versions["1"] = {"run_id": "r-old", "tags": {}}
    registry.versions["2"] = {"run_id": "r-new", "tags": {}}
    registry.alias = "1"
    return registry


METRICS = ModelMetrics(
    rmse=1.0, mae=1.0, mape=0.1, r2=0.9, interval_coverage=0.9, n_train=8, n_test=2
)


def test_promote_aliases_then_announces_then_tags_naming_the_former_champion() -> None:
    log: list[str] = []
    registry, publisher = _registry_with_champion(log), FakePublisher(log)
    event = promote(
        model_name="m",
        version="2",
        run_id="r-new",
        metrics=METRICS,
        registry=registry,
        publisher=publisher,
    )
    assert log == ["alias 2", f"publish {MODELS_PROMOTED.name}", "announced 2"]
    assert publisher.promoted() == [event]
    assert (event.model_version, event.previous_version) == ("2", "1")


def test_promoting_the_current_champion_again_only_announces_it() -> None:
    """The healing of a crash between alias and announcement: no second alias change, and no
    version claims to replace itself."""
    log: list[str] = []
    registry, publisher = _registry_with_champion(log), FakePublisher(log)
    event = promote(
        model_name="m",
        version="1",
        run_id="r-old",
        metrics=METRICS,
        registry=registry,
        publisher=publisher,
    )
    assert log == [f"publish {MODELS_PROMOTED.name}", "announced 1"]
    assert event.previous_version is None


def test_a_failed_announcement_fails_the_run_and_leaves_the_champion_untagged() -> None:
    """The broker is down as the run promotes: the error reaches the runner (the requests are
    retried), the trained run stays FINISHED, and the champion lacks the announced tag, so the
    next runner announces it before anything else."""
    log: list[str] = []
    registry = FakeRegistry(log)
    with pytest.raises(ConnectionError):
        run_training(
            job=JOB,
            frame=store_frame(300, timed=True),
            deps=_deps(registry, FakePublisher(log, fail=True)),
        )
    assert registry.alias == "1"
    assert ANNOUNCED_TAG not in registry.versions["1"]["tags"]
    assert registry.runs["r1"]["status"] == "FINISHED"


def test_logged_test_metrics_read_back_unchanged() -> None:
    assert metrics_from_run(run_metrics(METRICS)) == METRICS


async def test_run_in_daemon_thread_returns_and_raises() -> None:
    assert await run_in_daemon_thread(lambda: 41 + 1, name="t") == 42

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        await run_in_daemon_thread(boom, name="t")


async def test_thread_publisher_publishes_on_the_loop_and_waits() -> None:
    published: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    class LoopSide:
        async def publish(self, records: Sequence[OutgoingRecord]) -> None:
            await asyncio.sleep(0.01)  # the thread must wait for this
            published.extend((r.topic, threading.get_ident() == loop_thread) for r in records)

    bridge = ThreadPublisher(LoopSide(), asyncio.get_running_loop(), timeout_s=5)
    record = OutgoingRecord(MODELS_PROMOTED.name, b"{}", b"m")

    def in_thread() -> int:
        bridge.publish([record])
        return len(published)

    assert await run_in_daemon_thread(in_thread, name="t") == 1
    assert published == [(MODELS_PROMOTED.name, True)]


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
