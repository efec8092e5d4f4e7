"""Judging a shadow challenger on realised sales: the paired test at planned looks (and how
often it decides wrongly between equally good models), the verdict stored once and published,
the evaluation closed by the trainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from valora_contracts import ChallengerChanged, ModelVerdict
from valora_drift_monitor.adapters.shadow_metrics import ShadowMetrics
from valora_drift_monitor.domain.ports import OutboxEntry
from valora_drift_monitor.domain.shadow import (
    OpenEvaluation,
    PairedSales,
    PairRow,
    ShadowPolicy,
    judge,
)
from valora_drift_monitor.entrypoints.shadow import ChallengersHandler, ShadowJudge
from valora_drift_monitor.errors import DriftStoreError
from valora_messaging import OutgoingRecord
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, tzinfo=UTC)
POLICY = ShadowPolicy(min_sales=30, looks=5, alpha=0.05, timeout_s=86_400.0)


def _pairs(n: int, *, champion_bias: float, challenger_bias: float, seed: int) -> PairedSales:
    rng = np.random.default_rng(seed)
    y = rng.uniform(300_000, 800_000, n)
    champion = y * champion_bias + rng.normal(0, 20_000, n)
    challenger = y * challenger_bias + rng.normal(0, 20_000, n)
    return PairedSales(
        y, champion, champion - 40_000, champion + 40_000,
        challenger, challenger - 40_000, challenger + 40_000,
    )  # fmt: skip


def _sequential(pairs: PairedSales) -> tuple[str | None, int]:
    """Every look as the sales arrive: the decision and the sales it needed."""
    taken = 0
    for n in range(1, len(pairs) + 1):
        judged = judge(pairs.head(n), policy=POLICY, looks_taken=taken, elapsed_s=0.0)
        if judged.figures is not None:
            taken = judged.figures.look
        if judged.decision is not None:
            return judged.decision, n
    return None, len(pairs)


def test_a_challenger_after_a_price_inflation_is_promoted_at_the_first_look() -> None:
    decision, needed = _sequential(_pairs(200, champion_bias=1 / 1.2, challenger_bias=1.0, seed=1))
    assert (decision, needed) == ("promote", 30)


def test_a_worse_challenger_is_retired() -> None:
    decision, _ = _sequential(_pairs(200, champion_bias=1.0, challenger_bias=1.15, seed=2))
    assert decision == "retire"


def test_equally_good_models_are_rarely_decided_either_way_over_all_looks() -> None:
    """The false-decision rate over five looks stays near alpha (not 5 x alpha)."""
    runs = 300
    promoted = retired_early = 0
    for seed in range(runs):
        pairs = _pairs(150, champion_bias=1.0, challenger_bias=1.0, seed=100 + seed)
        decision, needed = _sequential(pairs)
        promoted += decision == "promote"
        retired_early += decision == "retire" and needed < 150
    assert promoted / runs <= 0.05
    assert (promoted + retired_early) / runs <= 0.08  # binomial noise above 0.05 over 300 runs


def test_no_difference_by_the_last_look_retires_and_waiting_is_no_decision() -> None:
    same = _pairs(150, champion_bias=1.0, challenger_bias=1.0, seed=7)
    early = judge(same.head(29), policy=POLICY, looks_taken=0, elapsed_s=0.0)
    assert early.decision is None
    assert early.figures is None
    last = judge(same, policy=POLICY, looks_taken=4, elapsed_s=0.0)
    assert last.figures is not None
    assert last.figures.p_value is not None
    assert last.figures.p_value >= POLICY.alpha_per_look
    assert last.decision == "retire"
    assert last.explanation.startswith("no significant difference")


def test_a_challenger_without_enough_sales_times_out() -> None:
    few = _pairs(10, champion_bias=1.0, challenger_bias=1.0, seed=3)
    judged = judge(few, policy=POLICY, looks_taken=0, elapsed_s=2 * 86_400.0)
    assert judged.decision == "retire"
    assert "timed out" in judged.explanation


@dataclass
class FakeShadowStore:
    pairs: PairedSales
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)

    async def add_pairs(self, model_name: str, rows: Sequence[PairRow]) -> set[str]:
        return {r.challenger_version for r in rows}

    async def start(
        self, *, model_name: str, version: str, champion_version: str, at: datetime
    ) -> None:
        self.evaluations.setdefault(
            version, {"champion": champion_version, "started": at, "decision": None, "look": 0}
        )

    async def open_evaluations(self, model_name: str) -> list[OpenEvaluation]:
        return [
            OpenEvaluation(model_name, v, e["champion"], e["started"], e["look"])
            for v, e in self.evaluations.items()
            if e["decision"] is None
        ]

    async def paired(self, *, model_name: str, version: str, cap: int) -> PairedSales:
        return self.pairs.head(cap)

    async def record(
        self, *, model_name: str, version: str, figures: dict[str, Any], paired_sales: int
    ) -> None:
        self.evaluations[version].update(look=figures["look"], figures=figures, paired=paired_sales)

    async def decide(self, *, model_name: str, version: str, decision: str, explanation: str,
                     figures: dict[str, Any] | None, paired_sales: int | None,
                     event: OutboxEntry | None) -> bool:  # fmt: skip
        if self.evaluations[version]["decision"] is not None:
            return False
        self.evaluations[version]["decision"] = decision
        if event is not None:
            self.outbox.append(event)
        return True


@dataclass
class FakeAlerts:
    published: list[str] = field(default_factory=list)

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        self.published.extend(event_ids)


@dataclass
class FakePublisher:
    records: list[OutgoingRecord] = field(default_factory=list)
    fail: bool = False

    async def publish(self, records: Sequence[OutgoingRecord]) -> int:
        if self.fail:
            raise ConnectionError("broker down")
        self.records.extend(records)
        return len(records)


def _judge(store: FakeShadowStore, publisher: FakePublisher, alerts: FakeAlerts) -> ShadowJudge:
    metrics = ShadowMetrics(metrics=ServiceMetrics("drift-monitor"), model_name="m")
    return ShadowJudge(
        model_name="m", store=store, alerts=alerts, publisher=publisher,  # type: ignore[arg-type]
        metrics=metrics, policy=POLICY, clock=lambda: NOW,
    )  # fmt: skip


async def test_the_verdict_is_stored_once_with_its_event_then_published_and_marked() -> None:
    store = FakeShadowStore(_pairs(60, champion_bias=1 / 1.2, challenger_bias=1.0, seed=4))
    await store.start(model_name="m", version="2", champion_version="1", at=NOW)
    publisher, alerts = FakePublisher(), FakeAlerts()
    judge_ = _judge(store, publisher, alerts)

    [verdict] = await judge_.evaluate()
    assert await judge_.evaluate() == []  # decided: nothing more

    assert (verdict.decision, verdict.challenger_version, verdict.champion_version) == (
        "promote",
        "2",
        "1",
    )
    assert verdict.paired_sales == 60  # both looks' sales at once: judged at the second look
    assert verdict.challenger_mae < verdict.champion_mae
    assert [ModelVerdict.model_validate_json(r.value) for r in publisher.records] == [verdict]
    assert [e.event_id for e in store.outbox] == alerts.published == [verdict.event_id]


async def test_a_verdict_the_broker_refused_stays_in_the_outbox_for_the_sweeper() -> None:
    store = FakeShadowStore(_pairs(60, champion_bias=1.0, challenger_bias=1.3, seed=5))
    await store.start(model_name="m", version="2", champion_version="1", at=NOW)
    alerts = FakeAlerts()
    [verdict] = await _judge(store, FakePublisher(fail=True), alerts).evaluate()
    assert verdict.decision == "retire"
    assert len(store.outbox) == 1
    assert alerts.published == []  # not marked: the sweeper re-sends it


async def test_the_trainer_closing_a_challenger_ends_its_evaluation_without_a_verdict() -> None:
    store = FakeShadowStore(_pairs(60, champion_bias=1.0, challenger_bias=1.0, seed=6))
    counted: list[tuple[str, int]] = []
    handler = ChallengersHandler(
        model_name="m",
        store=store,
        count=lambda e, n: counted.append((e, n)),  # type: ignore[arg-type]
    )
    started = ChallengerChanged(
        model_name="m", model_version="2", status="shadowing", champion_version="1"
    )
    await handler.handle(started.model_dump_json().encode())
    assert store.evaluations["2"]["decision"] is None
    replaced = ChallengerChanged(model_name="m", model_version="2", status="retired")
    await handler.handle(replaced.model_dump_json().encode())
    assert store.evaluations["2"]["decision"] == "retire"
    assert store.outbox == []
    publisher = FakePublisher()
    assert await _judge(store, publisher, FakeAlerts()).evaluate() == []
    assert publisher.records == []


class BrokenPairsStore(FakeShadowStore):
    """Reading one challenger's pairs fails with a bug (``ValueError``) or with the database
    (``DriftStoreError``)."""

    def __init__(self, pairs: PairedSales, error: Exception) -> None:
        super().__init__(pairs)
        self.error = error

    async def paired(self, *, model_name: str, version: str, cap: int) -> PairedSales:
        if version == "bad":
            raise self.error
        return await super().paired(model_name=model_name, version=version, cap=cap)


async def test_one_challenger_failing_to_be_judged_never_stops_the_others() -> None:
    store = BrokenPairsStore(
        _pairs(60, champion_bias=1 / 1.2, challenger_bias=1.0, seed=8), ValueError("a bug")
    )
    await store.start(model_name="m", version="bad", champion_version="1", at=NOW)
    await store.start(model_name="m", version="2", champion_version="", at=NOW)  # none known
    [verdict] = await _judge(store, FakePublisher(), FakeAlerts()).evaluate()
    assert (verdict.challenger_version, verdict.champion_version) == ("2", "unknown")


async def test_a_database_failure_while_judging_is_raised_for_redelivery() -> None:
    store = BrokenPairsStore(
        _pairs(60, champion_bias=1.0, challenger_bias=1.0, seed=9), DriftStoreError("down")
    )
    await store.start(model_name="m", version="bad", champion_version="1", at=NOW)
    with pytest.raises(DriftStoreError):
        await _judge(store, FakePublisher(), FakeAlerts()).evaluate()


async def test_between_looks_the_figures_so_far_are_recorded_without_a_decision() -> None:
    store = FakeShadowStore(_pairs(20, champion_bias=1 / 1.2, challenger_bias=1.0, seed=10))
    await store.start(model_name="m", version="2", champion_version="1", at=NOW)
    publisher = FakePublisher()
    assert await _judge(store, publisher, FakeAlerts()).evaluate() == []
    recorded = store.evaluations["2"]
    assert (recorded["decision"], recorded["paired"], recorded["look"]) == (None, 20, 0)
    assert recorded["figures"]["challenger_mae"] < recorded["figures"]["champion_mae"]
    assert publisher.records == []  # 20 < 30 paired sales: no look, however clear the gap
