"""The alert lifecycle of one condition, as a pure function (no I/O, no clock).

A condition (one ``dedupe_key``) is ``ok`` or ``firing``. Per evaluation:

* ``ok``: fire when the evidence is significant and the value reaches the warning (or critical)
  level — unless the condition last notified less than ``cooldown_s`` ago (then the evaluation
  is counted as suppressed and the state stays ``ok``, so it fires once the cooldown is over if
  the condition persists) or a broader alert inhibits it.
* ``firing``: resolve after ``resolve_after`` consecutive values below the (lower) resolve level
  — hysteresis, so a value hovering around the firing level does not flap; escalate a warning
  to critical at once (a new severity is news, cooldown or not); otherwise stay silent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

__all__ = [
    "AlertKey",
    "AlertPolicy",
    "ConditionState",
    "Levels",
    "Observation",
    "Severity",
    "Transition",
    "decide",
]

Severity = Literal["warning", "critical"]
Kind = Literal["data", "prediction", "performance"]
Statistic = Literal["psi", "ks", "chi2", "mae", "mape"]


@dataclass(frozen=True)
class Levels:
    """Hysteresis levels of a "higher is worse" statistic."""

    warning: float
    critical: float
    resolve: float

    def severity(self, value: float) -> Severity | None:
        if value >= self.critical:
            return "critical"
        if value >= self.warning:
            return "warning"
        return None

    def threshold(self, severity: Severity) -> float:
        return self.critical if severity == "critical" else self.warning


@dataclass(frozen=True)
class AlertPolicy:
    cooldown_s: float
    resolve_after: int = 1


@dataclass(frozen=True)
class AlertKey:
    """What a condition is about. Data drift is keyed by feature only (the reference changes
    with the champion, the condition does not); prediction and performance drift are about one
    model version's behaviour, so its version is part of the key."""

    model_name: str
    kind: Kind
    feature: str
    statistic: Statistic
    model_version: str

    @property
    def dedupe_key(self) -> str:
        scope = self.model_name
        if self.kind != "data":
            scope = f"{self.model_name}@{self.model_version}"
        return f"{scope}/{self.kind}/{self.feature}/{self.statistic}"


@dataclass(frozen=True)
class Observation:
    """One evaluation of a condition."""

    key: AlertKey
    value: float
    levels: Levels
    significant: bool
    p_value: float | None = None
    inhibited: bool = False


@dataclass(frozen=True)
class ConditionState:
    state: Literal["ok", "firing"] = "ok"
    severity: Severity | None = None
    value: float | None = None
    clear_streak: int = 0
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    suppressed: int = 0


@dataclass(frozen=True)
class Transition:
    """A change on-call hears about."""

    state: Literal["firing", "resolved"]
    severity: Severity
    value: float
    threshold: float
    escalation: bool = False


def _cooling(state: ConditionState, now: datetime, cooldown_s: float) -> bool:
    last = state.notified_at
    return last is not None and (now - last).total_seconds() < cooldown_s


def decide(
    state: ConditionState, obs: Observation, *, policy: AlertPolicy, now: datetime
) -> tuple[ConditionState, Transition | None]:
    """The next state of a condition after ``obs``, and the notification to send, if any."""
    value = obs.value
    severity = obs.levels.severity(value) if obs.significant else None
    if state.state == "ok":
        if severity is None or obs.inhibited:
            return replace(state, value=value, clear_streak=0), None
        if _cooling(state, now, policy.cooldown_s):
            return replace(state, value=value, suppressed=state.suppressed + 1), None
        fired = ConditionState(
            state="firing",
            severity=severity,
            value=value,
            fired_at=now,
            resolved_at=state.resolved_at,
            notified_at=now,
            suppressed=state.suppressed,
        )
        return fired, Transition("firing", severity, value, obs.levels.threshold(severity))

    current: Severity = state.severity or "warning"
    if value < obs.levels.resolve:
        streak = state.clear_streak + 1
        if streak < policy.resolve_after:
            return replace(state, value=value, clear_streak=streak), None
        resolved = replace(
            state, state="ok", severity=None, value=value, clear_streak=0, resolved_at=now
        )
        return resolved, Transition("resolved", current, value, obs.levels.resolve)
    if severity == "critical" and current == "warning":
        escalated = replace(
            state, severity="critical", value=value, clear_streak=0, notified_at=now
        )
        threshold = obs.levels.critical
        return escalated, Transition("firing", "critical", value, threshold, escalation=True)
    return replace(state, value=value, clear_streak=0), None
