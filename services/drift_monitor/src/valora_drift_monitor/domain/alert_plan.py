"""From evaluations to state changes and events: pure, shared by every alert store.

:func:`plan` runs :func:`~.alerting.decide` for each evaluated condition (broad conditions
first, so a firing overall alert can inhibit its segments), builds the ``DriftAlert`` events,
and — when auto-retrain is on — one ``TrainingRequested(reason="drift")`` for a critical
firing, at most once per retrain cooldown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from valora_contracts import DriftAlert, DriftWindow, TrainingRequested

from valora_drift_monitor.domain.alerting import (
    AlertPolicy,
    ConditionState,
    Observation,
    decide,
)

__all__ = ["Evaluation", "Plan", "RetrainPolicy", "plan", "retrain_key"]


@dataclass(frozen=True)
class Evaluation:
    """One condition evaluated on one window."""

    observation: Observation
    window: DriftWindow
    inhibited_by: str | None = None

    @property
    def key(self) -> str:
        return self.observation.key.dedupe_key


@dataclass(frozen=True)
class RetrainPolicy:
    enabled: bool
    cooldown_s: float
    requested_by: str = "drift-monitor"


@dataclass(frozen=True)
class Plan:
    states: dict[str, ConditionState]
    alerts: list[DriftAlert]
    retrain: TrainingRequested | None = None
    retrain_state: ConditionState | None = None

    @property
    def events(self) -> list[DriftAlert | TrainingRequested]:
        """The events to publish, alerts first."""
        return [*self.alerts, *([self.retrain] if self.retrain is not None else [])]


def retrain_key(model_name: str) -> str:
    return f"{model_name}/retrain"


def _ordered(evaluations: Iterable[Evaluation]) -> list[Evaluation]:
    return sorted(evaluations, key=lambda e: e.inhibited_by is not None)


def plan(
    current: Mapping[str, ConditionState],
    evaluations: Sequence[Evaluation],
    *,
    now: datetime,
    policy: AlertPolicy,
    retrain: RetrainPolicy,
    retrain_state: ConditionState | None = None,
) -> Plan:
    """State changes and events for ``evaluations`` given the ``current`` states."""
    states: dict[str, ConditionState] = {}
    alerts: list[DriftAlert] = []
    critical: DriftAlert | None = None
    for evaluation in _ordered(evaluations):
        obs = evaluation.observation
        if evaluation.inhibited_by is not None:
            inhibitor = states.get(evaluation.inhibited_by) or current.get(evaluation.inhibited_by)
            obs = replace(obs, inhibited=inhibitor is not None and inhibitor.state == "firing")
        key = evaluation.key
        before = states.get(key) or current.get(key) or ConditionState()
        after, transition = decide(before, obs, policy=policy, now=now)
        states[key] = after
        if transition is None:
            continue
        alert = DriftAlert(
            kind=obs.key.kind,
            feature=obs.key.feature,
            statistic=obs.key.statistic,
            value=transition.value,
            threshold=transition.threshold,
            p_value=obs.p_value,
            severity=transition.severity,
            window=evaluation.window,
            model_name=obs.key.model_name,
            model_version=obs.key.model_version,
            dedupe_key=key,
            state=transition.state,
        )
        alerts.append(alert)
        if alert.state == "firing" and alert.severity == "critical" and critical is None:
            critical = alert

    request: TrainingRequested | None = None
    new_retrain_state: ConditionState | None = None
    if retrain.enabled and critical is not None:
        last = (retrain_state or ConditionState()).notified_at
        if last is None or (now - last).total_seconds() >= retrain.cooldown_s:
            request = TrainingRequested(
                model_name=critical.model_name,
                reason="drift",
                requested_by=f"{retrain.requested_by}:{critical.dedupe_key}"[:200],
                trace_id=critical.trace_id,
            )
            new_retrain_state = ConditionState(state="firing", notified_at=now, fired_at=now)
    return Plan(states, alerts, request, new_retrain_state)
