"""The whole run (``run_training``) and ``promote`` with a fake registry and publisher (the real
Protocols) and an in-memory study; the thread helpers and the request handler's model filter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from trainer_fakes import FakePublisher, FakeRegistry, small_config, store_frame
from valora_contracts import MODELS_PROMOTED, ModelMetrics, TrainingRequested
from valora_messaging import OutgoingRecord
from valora_ml.features import FEATURE_COLUMNS
from valora_ml.profile import ReferenceProfile
from valora_trainer.adapters.publisher import Publisher, ThreadPublisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.metrics import metrics_from_run, run_metrics
from valora_trainer.entrypoints.handlers import handle_training_request
from valora_trainer.entrypoints.threads import run_in_daemon_thread
from valora_trainer.errors import InsufficientDataError, TrainingCancelledError
from valora_trainer.service_layer.promotion import ANNOUNCED_TAG, promote
from valora_trainer.service_layer.run import RunControl, RunDeps, TrainingJob, run_training

pytestmark = pytest.mark.unit


JOB = TrainingJob(
    model_name="m", reason="manual", experiment="e", request_ids=("a", "b"), trace_id="t-1"
)


def _deps(
    registry: Registry, publisher: Publisher, config: TrainingConfig | None = None
) -> RunDeps:
    config = config or small_config()
    return RunDeps(config=config, registry=registry, storage=None, publisher=publisher)


def test_first_run_registers_promotes_and_announces_with_lineage_and_artifacts() -> None:
    log: list[str] = []
    registry, publisher = FakeRegistry(log), FakePublisher(log)
    stages: list[str] = []
    frame = store_frame(400, timed=True)
    outcome = run_training(
        job=JOB,
        frame=frame,
        deps=_deps(registry, publisher),
        control=RunControl(on_stage=stages.append),
    )
    assert stages == [
        "snapshot", "search", "fit", "evaluate", "refit", "register", "gate", "promote"
    ]  # fmt: skip
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
    assert (run["params"]["split.strategy"], run["tags"]["valora.split"]) == ("time", "time")
    assert len(run["params"]["snapshot.content_hash"]) == 64
    assert run["status"] == "FINISHED"
    assert run["artifacts"] == [
        "evaluation/interval_coverage.json",
        "evaluation/test_predictions.parquet",
        "feature_importance.png",
        "predicted_vs_actual.png",
        "reference_profile.json",
        "residuals.png",
        "search_trials.csv",
        "snapshot/snapshot.parquet",
    ]
    assert metrics_from_run(run["metrics"]) == outcome.metrics  # what `promote` reads back
    # the gate saw 320 fit rows and judged 80; the served model learnt from all 400
    rows = {"rows.gate_fit": 320, "rows.gate_test": 80, "rows.served_fit": 400}
    assert {k: run["params"][k] for k in rows} == rows
    assert outcome.metrics.n_train == 320
    assert outcome.metrics.n_test == 80
    assert {"test_coverage.third.cheapest", "test_coverage.third.dearest"} <= set(run["metrics"])
    assert {"candidate_rmse.search", "candidate_rmse.untuned_hgb_log_price"} <= set(run["metrics"])
    assert run["params"]["candidate_selection"] == "newest"  # dated rows
    assert run["params"]["calibration_folds"] == "time_blocks"
    version = registry.versions["1"]
    assert version["tags"]["valora.gate_passed"] == "true"
    assert version["tags"]["valora.request_ids"] == "a,b"
    meta = version["metadata"]["valora"]
    assert {k: meta[k] for k in rows} == rows
    assert (meta["split"], meta["market_time"], meta["interval_method"]) == (
        "time",
        True,
        "normalised",
    )
    served = version["model"]
    assert served.market_time
    # training ranges of the served model span every row, the newest (test) rows included
    assert served.ranges.bounds["area"] == (frame["area"].min(), frame["area"].max())
    assert meta["training_ranges"]["area"] == [frame["area"].min(), frame["area"].max()]
    profile = ReferenceProfile.model_validate_json(version["profile"])
    assert profile.n_rows == 400  # the profile of every row the served model learnt from
    assert list(version["example"].columns) == list(FEATURE_COLUMNS)


def test_undated_rows_train_on_the_hash_split_without_market_time() -> None:
    registry = FakeRegistry([])
    outcome = run_training(job=JOB, frame=store_frame(300), deps=_deps(registry, FakePublisher([])))
    run = registry.runs[outcome.run_id]
    assert (run["params"]["split.strategy"], run["tags"]["valora.split"]) == ("hash", "hash")
    assert not registry.versions["1"]["model"].market_time


def _features_oracle(frame: pd.DataFrame) -> Any:
    """A champion that knows every label (looked up by the house's features)."""
    prices = {
        tuple(r): p
        for r, p in zip(
            frame[list(FEATURE_COLUMNS)].itertuples(index=False), frame["price"], strict=True
        )
    }

    def perfect(x: pd.DataFrame) -> np.ndarray[Any, Any]:
        keys = x[list(FEATURE_COLUMNS)].itertuples(index=False)
        return np.asarray([prices[tuple(k)] for k in keys], dtype=float)

    return perfect


def test_a_champion_of_unknown_rows_is_scored_on_every_test_row_and_wins() -> None:
    """A champion registered without a snapshot: its rows are unknown, every test row counts
    (as the gate always did); knowing every label, it rejects the challenger."""
    frame = store_frame(400, timed=True)
    log: list[str] = []
    registry = FakeRegistry(log, champion_predict=_features_oracle(frame))
    outcome = run_training(job=JOB, frame=frame, deps=_deps(registry, FakePublisher(log)))
    assert outcome.promoted is None
    assert outcome.gate.champion_version == "1"
    assert outcome.gate.champion_rmse == 0.0
    assert registry.runs[outcome.run_id]["metrics"]["gate.champion_rows"] == 80
    assert registry.alias == "1"
    assert log == ["register 2"]  # no alias, nothing published
    assert registry.versions[outcome.model_version]["tags"]["valora.gate_passed"] == "false"


def test_a_retrain_on_the_same_rows_scores_the_champion_on_its_own_unseen_test_rows() -> None:
    """The champion's served model learnt from every row, test rows included; scored on them it
    would look better than it is. The gate uses its gate model's logged test predictions
    instead: the same rows, unseen by both, and the same figure the champion's run logged."""
    frame = store_frame(400, timed=True)
    registry = FakeRegistry([])
    first = run_training(job=JOB, frame=frame, deps=_deps(registry, FakePublisher([])))
    served = registry.versions["1"]["model"]
    test = frame.iloc[320:]
    flattering = float(np.sqrt(np.mean((served.predict_price(test) - test["price"]) ** 2)))
    assert flattering < first.metrics.rmse  # what the old comparison would have used
    second = run_training(job=JOB, frame=frame, deps=_deps(registry, FakePublisher([])))
    metrics = registry.runs[second.run_id]["metrics"]
    assert metrics["gate.champion_rows"] == 80
    assert second.gate.champion_rmse == pytest.approx(first.metrics.rmse)
    assert second.gate.passed  # the same configuration on the same rows is no worse


def test_new_listings_are_the_comparison_rows_under_a_time_split() -> None:
    """Trained on the first 300 listings, the champion never saw the 100 newest: the next run's
    80 test rows are among them, and its served model predicts all of them."""
    frame = store_frame(400, timed=True)
    registry = FakeRegistry([])
    run_training(job=JOB, frame=frame.head(300), deps=_deps(registry, FakePublisher([])))
    second = run_training(job=JOB, frame=frame, deps=_deps(registry, FakePublisher([])))
    champion = registry.versions["1"]["model"]
    test = frame.iloc[320:]
    expected = float(np.sqrt(np.mean((champion.predict_price(test) - test["price"]) ** 2)))
    assert registry.runs[second.run_id]["metrics"]["gate.champion_rows"] == 80
    assert second.gate.champion_rmse == pytest.approx(expected)


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
