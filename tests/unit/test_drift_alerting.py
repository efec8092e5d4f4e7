"""Alert lifecycle (hysteresis, cooldown, dedupe, inhibition, auto-retrain) and window logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from valora_contracts import DriftWindow
from valora_drift_monitor.domain.alert_plan import Evaluation, RetrainPolicy, plan
from valora_drift_monitor.domain.alerting import (
    AlertKey,
    AlertPolicy,
    ConditionState,
    Levels,
    Observation,
    decide,
)
from valora_drift_monitor.domain.windows import TumblingWindow, WindowPolicy

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEVELS = Levels(warning=0.1, critical=0.25, resolve=0.05)
KEY = AlertKey("m", "data", "area", "psi", "3")
POLICY = AlertPolicy(cooldown_s=600, resolve_after=1)


def obs(value: float, significant: bool = True, key: AlertKey = KEY) -> Observation:
    return Observation(key=key, value=value, levels=LEVELS, significant=significant, p_value=0.0)


def run(values: list[float], policy: AlertPolicy = POLICY, step_s: float = 60.0) -> list[str]:
    state, out = ConditionState(), []
    for i, value in enumerate(values):
        state, t = decide(state, obs(value), policy=policy, now=T0 + timedelta(seconds=i * step_s))
        out.append("-" if t is None else f"{t.state}:{t.severity}")
    return out


def test_fires_once_per_condition_and_resolves_below_the_lower_level() -> None:
    assert run([0.01, 0.3, 0.4, 0.3, 0.08, 0.07, 0.04]) == [
        "-",
        "firing:critical",
        "-",  # still firing: dedupe, no second alert
        "-",
        "-",  # 0.08 is below warning but above resolve: hysteresis keeps it firing
        "-",
        "resolved:critical",
    ]


def test_warning_then_escalation_to_critical() -> None:
    assert run([0.15, 0.12, 0.3, 0.3]) == ["firing:warning", "-", "firing:critical", "-"]


def test_an_insignificant_test_does_not_fire_even_with_a_large_psi() -> None:
    state, t = decide(ConditionState(), obs(0.5, significant=False), policy=POLICY, now=T0)
    assert t is None
    assert state.state == "ok"


def test_cooldown_suppresses_a_flapping_condition_then_allows_it() -> None:
    # fire at t=0, resolve at t=60, back at t=120 (< 600 s cooldown): suppressed
    assert run([0.3, 0.0, 0.3, 0.3], step_s=60) == [
        "firing:critical",
        "resolved:critical",
        "-",
        "-",
    ]
    # the same with windows 400 s apart: the third is past the cooldown and fires again
    assert run([0.3, 0.0, 0.3], step_s=400) == [
        "firing:critical",
        "resolved:critical",
        "firing:critical",
    ]


def test_resolve_after_needs_consecutive_clear_windows() -> None:
    policy = AlertPolicy(cooldown_s=0, resolve_after=2)
    assert run([0.3, 0.01, 0.3, 0.01, 0.01], policy) == [
        "firing:critical",
        "-",
        "-",
        "-",
        "resolved:critical",
    ]


def test_dedupe_keys() -> None:
    assert KEY.dedupe_key == "m/data/area/psi"  # data drift outlives a champion change
    perf = AlertKey("m", "performance", "all", "mape", "3")
    assert perf.dedupe_key == "m@3/performance/all/mape"


def _evaluation(key: AlertKey, value: float, inhibited_by: str | None = None) -> Evaluation:
    window = DriftWindow(start=T0, end=T0, size=1000)
    return Evaluation(observation=obs(value, key=key), window=window, inhibited_by=inhibited_by)


def test_plan_builds_alerts_inhibits_segments_and_requests_one_retrain() -> None:
    overall = AlertKey("m", "performance", "all", "mape", "3")
    segment = AlertKey("m", "performance", "neighbourhood=Centro", "mape", "3")
    retrain = RetrainPolicy(enabled=True, cooldown_s=3600)
    result = plan(
        {},
        [_evaluation(segment, 0.3, overall.dedupe_key), _evaluation(overall, 0.3)],
        now=T0,
        policy=POLICY,
        retrain=retrain,
    )
    assert [a.feature for a in result.alerts] == ["all"]  # the segment is inhibited
    alert = result.alerts[0]
    assert (alert.kind, alert.severity, alert.state, alert.threshold) == (
        "performance",
        "critical",
        "firing",
        0.25,
    )
    assert result.retrain is not None
    assert result.retrain.reason == "drift"
    assert result.retrain_state is not None
    assert [type(e).__name__ for e in result.events] == ["DriftAlert", "TrainingRequested"]
    # within the retrain cooldown a new critical alert does not ask again
    again = plan(
        {},
        [_evaluation(AlertKey("m", "data", "age", "psi", "3"), 0.4)],
        now=T0 + timedelta(minutes=5),
        policy=POLICY,
        retrain=retrain,
        retrain_state=result.retrain_state,
    )
    assert len(again.alerts) == 1
    assert again.retrain is None


def test_plan_without_auto_retrain() -> None:
    result = plan(
        {},
        [_evaluation(KEY, 0.4)],
        now=T0,
        policy=POLICY,
        retrain=RetrainPolicy(enabled=False, cooldown_s=0),
    )
    assert result.retrain is None
    assert result.alerts[0].dedupe_key == "m/data/area/psi"


# --- windows -------------------------------------------------------------------------------


def test_count_window_closes_at_size() -> None:
    window: TumblingWindow[int] = TumblingWindow(WindowPolicy(size=3, seconds=3600, min_size=2))
    closed = [window.add(T0 + timedelta(seconds=i), i) for i in range(7)]
    done = [c for c in closed if c is not None]
    assert [c.rows for c in done] == [[0, 1, 2], [3, 4, 5]]
    assert done[0].start == T0
    assert done[0].end == T0 + timedelta(seconds=2)
    assert len(window) == 1


def test_time_window_closes_on_event_time_and_the_late_event_opens_the_next() -> None:
    window: TumblingWindow[int] = TumblingWindow(WindowPolicy(size=100, seconds=60, min_size=2))
    assert window.add(T0, 0) is None
    assert window.add(T0 + timedelta(seconds=10), 1) is None
    closed = window.add(T0 + timedelta(seconds=61), 2)
    assert closed is not None
    assert closed.rows == [0, 1]
    assert window.rows == [2]


def test_a_time_window_below_min_size_keeps_growing() -> None:
    window: TumblingWindow[int] = TumblingWindow(WindowPolicy(size=100, seconds=60, min_size=3))
    window.add(T0, 0)
    assert window.add(T0 + timedelta(seconds=120), 1) is None  # only 1 event: not judged yet
    assert window.add(T0 + timedelta(seconds=130), 2) is None
    closed = window.add(T0 + timedelta(seconds=200), 3)
    assert closed is not None
    assert closed.size == 3


def test_window_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="min_size"):
        WindowPolicy(size=10, seconds=1, min_size=20)
    with pytest.raises(ValueError, match="size >= 2"):
        WindowPolicy(size=1, seconds=1, min_size=1)
