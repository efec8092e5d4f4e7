"""What the monitor needs from storage and the model registry, as protocols.

PostgreSQL and MLflow implement them in :mod:`valora_drift_monitor.adapters`; tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from valora_drift_monitor.domain.alert_plan import Evaluation, Plan, RetrainPolicy
from valora_drift_monitor.domain.alerting import AlertPolicy
from valora_drift_monitor.domain.reference import Reference
from valora_drift_monitor.domain.shadow import OpenEvaluation, PairedSales, PairRow

__all__ = [
    "AlertStore",
    "LabelRow",
    "OutboxEntry",
    "OutcomeStore",
    "PredictionRow",
    "ReferenceSource",
    "SegmentPerformance",
    "ShadowStore",
    "WindowRecord",
]


@dataclass(frozen=True)
class WindowRecord:
    model_name: str
    model_version: str
    kind: Literal["data", "prediction"]
    start: datetime
    end: datetime
    size: int
    replica: str
    features: list[dict[str, Any]]


@dataclass(frozen=True)
class PredictionRow:
    model_name: str
    listing_id: str
    model_version: str
    predicted_price: float
    neighbourhood: str
    predicted_at: datetime


@dataclass(frozen=True)
class LabelRow:
    listing_id: str
    price: float
    observed_at: datetime


@dataclass(frozen=True)
class SegmentPerformance:
    """Rolling realised error of one model version on one segment (``all`` or a neighbourhood)."""

    model_version: str
    segment: str
    size: int
    mae: float
    mape: float
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """An event committed with its state change, to be published (again) to ``topic``."""

    event_id: str
    topic: str
    key: bytes | None
    value: bytes


class AlertStore(Protocol):
    async def apply(
        self,
        evaluations: Sequence[Evaluation],
        *,
        now: datetime,
        policy: AlertPolicy,
        retrain: RetrainPolicy,
    ) -> Plan:
        """Lock the conditions, decide, persist states, alerts and outbox events atomically."""
        ...

    async def record_window(self, record: WindowRecord) -> None: ...

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...

    async def pending(self, *, older_than: datetime, limit: int) -> list[OutboxEntry]:
        """Outbox events not yet acknowledged by Kafka, oldest first."""
        ...

    async def firing(self, model_name: str) -> list[tuple[str, str, str, str]]:
        """(kind, feature, statistic, severity) of the conditions firing now."""
        ...


class OutcomeStore(Protocol):
    async def add_predictions(self, rows: Sequence[PredictionRow]) -> set[str]:
        """Store predictions; join them to known sales. Returns versions with new outcomes."""
        ...

    async def add_sales(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        """Store sales; join them to known predictions. Returns versions with new outcomes."""
        ...

    async def add_listing_prices(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        """Join prices of listings seen after a prediction of them (nothing else is stored)."""
        ...

    async def performance(
        self, *, model_name: str, model_version: str, size: int, since: datetime, segments: bool
    ) -> list[SegmentPerformance]: ...

    async def prune(self, *, before: datetime) -> int: ...


class ReferenceSource(Protocol):
    """Blocking look-ups (the registry client is synchronous: call them in a thread)."""

    def champion_version(self, model_name: str) -> tuple[str, str] | None:
        """(version, run id) of the champion, or ``None`` while there is none."""
        ...

    def load(self, model_name: str, version: str, run_id: str | None = None) -> Reference: ...


class ShadowStore(Protocol):
    """Shadow pairs, their join to sales and the challengers' evaluations
    (:class:`~valora_drift_monitor.adapters.shadow_store.PgShadowStore`)."""

    async def add_pairs(self, model_name: str, rows: Sequence[PairRow]) -> set[str]: ...

    async def start(
        self, *, model_name: str, version: str, champion_version: str, at: datetime
    ) -> None: ...

    async def open_evaluations(self, model_name: str) -> list[OpenEvaluation]: ...

    async def paired(self, *, model_name: str, version: str, cap: int) -> PairedSales: ...

    async def record(
        self, *, model_name: str, version: str, figures: dict[str, Any], paired_sales: int
    ) -> None: ...

    async def decide(
        self,
        *,
        model_name: str,
        version: str,
        decision: str,
        explanation: str,
        figures: dict[str, Any] | None,
        paired_sales: int | None,
        event: OutboxEntry | None,
    ) -> bool: ...
