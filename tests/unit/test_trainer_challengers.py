"""Shadow promotion in the trainer: a gated model becomes the challenger when a champion exists
(``promotion: shadow``), and the drift monitor's verdict promotes or retires it; a stale or
redelivered verdict changes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from trainer_fakes import FakePublisher, FakeRegistry, small_config, store_frame
from valora_contracts import (
    MODELS_CHALLENGERS,
    ChallengerChanged,
    ModelVerdict,
)
from valora_trainer.service_layer.challengers import VERDICT_TAG, apply_verdict
from valora_trainer.service_layer.run import RunDeps, TrainingJob, run_training

pytestmark = pytest.mark.unit

JOB = TrainingJob(model_name="m", reason="manual", experiment="e", trace_id="t-1")


def _changes(publisher: FakePublisher) -> list[ChallengerChanged]:
    return [
        ChallengerChanged.model_validate_json(r.value)
        for r in publisher.records
        if r.topic == MODELS_CHALLENGERS.name
    ]


def _trained(log: list[str], *, runs: int, promotion: str) -> tuple[FakeRegistry, FakePublisher]:
    registry, publisher = FakeRegistry(log), FakePublisher(log)
    deps = RunDeps(config=small_config(), registry=registry, storage=None, publisher=publisher)
    frame = store_frame(400, timed=True)
    for _ in range(runs):
        run_training(job=replace(JOB, promotion=promotion), frame=frame, deps=deps)
    return registry, publisher


def _verdict(version: str, decision: str, *, sales: int = 40) -> ModelVerdict:
    return ModelVerdict(
        model_name="m",
        challenger_version=version,
        champion_version="1",
        decision=decision,  # type: ignore[arg-type]
        explanation=f"{decision}: paired test",
        paired_sales=sales,
        champion_mae=20.0,
        challenger_mae=10.0,
        champion_mape=0.2,
        challenger_mape=0.1,
        champion_coverage=0.8,
        challenger_coverage=0.9,
        alpha=0.005,
    )


def test_without_a_champion_a_shadow_run_promotes_directly() -> None:
    registry, publisher = _trained([], runs=1, promotion="shadow")
    assert registry.alias == "1"
    assert registry.challenger_alias is None
    assert _changes(publisher) == []


def test_with_a_champion_a_shadow_run_nominates_a_challenger_and_keeps_the_champion() -> None:
    log: list[str] = []
    registry, publisher = _trained(log, runs=2, promotion="shadow")
    assert registry.alias == "1"  # the champion still serves
    assert registry.challenger_alias == "2"
    assert len(publisher.promoted()) == 1  # only the first run's
    [shadowing] = _changes(publisher)
    assert (shadowing.status, shadowing.model_version, shadowing.champion_version) == (
        "shadowing",
        "2",
        "1",
    )
    assert shadowing.metrics is not None


def test_a_direct_run_with_a_champion_promotes_at_once() -> None:
    registry, publisher = _trained([], runs=2, promotion="direct")
    assert registry.alias == "2"
    assert registry.challenger_alias is None
    assert _changes(publisher) == []


def test_a_newer_challenger_retires_the_one_it_replaces() -> None:
    registry, publisher = _trained([], runs=3, promotion="shadow")
    assert registry.challenger_alias == "3"
    statuses = [(c.model_version, c.status) for c in _changes(publisher)]
    assert statuses == [("2", "shadowing"), ("2", "retired"), ("3", "shadowing")]
    assert registry.versions["2"]["tags"][VERDICT_TAG] == "retire"


def test_a_promote_verdict_makes_the_challenger_champion_once() -> None:
    log: list[str] = []
    registry, publisher = _trained(log, runs=2, promotion="shadow")
    promoted_now = apply_verdict(
        verdict=_verdict("2", "promote"), registry=registry, publisher=publisher
    )
    assert promoted_now == "promoted"
    assert registry.alias == "2"
    assert registry.challenger_alias is None
    promoted = publisher.promoted()[-1]
    assert (promoted.model_version, promoted.previous_version) == ("2", "1")
    assert _changes(publisher)[-1].status == "promoted"
    assert registry.versions["2"]["tags"][f"{VERDICT_TAG}_paired_sales"] == "40"
    # the alias goes before the challenger alias is removed, and the change is announced last
    tail = log[-5:]
    assert tail.index("alias 2") < tail.index("challenger None")
    assert tail[-1] == f"publish {MODELS_CHALLENGERS.name}"

    before = len(publisher.records)  # redelivered: the challenger is gone, nothing happens
    again = apply_verdict(verdict=_verdict("2", "promote"), registry=registry, publisher=publisher)
    assert again == "stale"
    assert len(publisher.records) == before


def test_a_retire_verdict_keeps_the_champion_and_drops_the_challenger() -> None:
    registry, publisher = _trained([], runs=2, promotion="shadow")
    result = apply_verdict(verdict=_verdict("2", "retire"), registry=registry, publisher=publisher)
    assert result == "retired"
    assert registry.alias == "1"
    assert registry.challenger_alias is None
    assert len(publisher.promoted()) == 1
    last = _changes(publisher)[-1]
    assert (last.model_version, last.status, last.explanation) == (
        "2",
        "retired",
        "retire: paired test",
    )


def test_a_verdict_on_another_version_than_the_challenger_is_ignored() -> None:
    registry, publisher = _trained([], runs=3, promotion="shadow")  # v2 replaced by v3
    before = len(publisher.records)
    stale = apply_verdict(verdict=_verdict("2", "promote"), registry=registry, publisher=publisher)
    assert stale == "stale"
    assert registry.alias == "1"
    assert registry.challenger_alias == "3"
    assert len(publisher.records) == before
