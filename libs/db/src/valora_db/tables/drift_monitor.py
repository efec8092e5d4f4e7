"""Tables owned by the drift monitor: alert state and history, an outbox, windows, the label join.

Only the drift monitor writes them (``valora_drift_monitor.adapters``); other readers go through
:mod:`valora_db.read_models` (e.g. ``valora drift report``). Migrations: the one Alembic tree
(``0030_drift``).

* ``drift_alert_state`` — one row per condition (``dedupe_key``): firing or ok, severity, when it
  last notified. Transitions take ``SELECT ... FOR UPDATE`` on it, so replicas agree and a
  restart never re-fires.
* ``drift_alerts`` — every firing/resolved event sent to on-call (the ``alerts`` history).
* ``drift_outbox`` — events written in the same transaction as the state change and published
  afterwards (a crash in between is re-published by the sweeper; ``event_id`` de-duplicates).
* ``drift_windows`` — the statistics of every evaluated window (``valora drift report``).
* ``drift_predictions`` / ``drift_sales`` / ``drift_outcomes`` — predictions joined to realised
  prices by listing id, whichever arrives first; outcomes feed rolling MAE/MAPE.
* ``drift_shadow_pairs`` — the latest champion and challenger valuation of a listing (the pair
  judged against its sale); ``drift_shadow_evaluations`` — one row per challenger: its paired
  figures so far and, once, its decision (``valora models status`` reads it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from valora_db.models import Base

__all__ = [
    "DriftAlertRow",
    "DriftAlertState",
    "DriftOutboxRow",
    "DriftOutcome",
    "DriftPrediction",
    "DriftSale",
    "DriftShadowEvaluation",
    "DriftShadowPair",
    "DriftWindowRow",
]


def _now() -> Any:
    return func.now()


class DriftAlertState(Base):
    """The current state of one alert condition."""

    __tablename__ = "drift_alert_state"

    dedupe_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    feature: Mapped[str] = mapped_column(String(200), nullable=False)
    statistic: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    clear_streak: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    suppressed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )


class DriftAlertRow(Base):
    """One alert event (firing or resolved) as sent on ``drift.alerts.v1``."""

    __tablename__ = "drift_alerts"
    __table_args__ = (
        Index("ix_drift_alerts_dedupe_key", "dedupe_key"),
        Index("ix_drift_alerts_model_created", "model_name", "created_at"),
    )

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    feature: Mapped[str] = mapped_column(String(200), nullable=False)
    statistic: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_size: Mapped[int] = mapped_column(Integer, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )


class DriftOutboxRow(Base):
    """An event to publish; ``published_at`` is set once the broker acknowledged it."""

    __tablename__ = "drift_outbox"
    __table_args__ = (
        Index(
            "ix_drift_outbox_pending",
            "created_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), nullable=False)
    key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DriftWindowRow(Base):
    """The statistics of one evaluated window (data or prediction)."""

    __tablename__ = "drift_windows"
    __table_args__ = (Index("ix_drift_windows_model_kind", "model_name", "kind", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    replica: Mapped[str] = mapped_column(String(200), nullable=False)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )


class DriftPrediction(Base):
    """The latest prediction of a listing by a model (waiting for its realised price)."""

    __tablename__ = "drift_predictions"
    __table_args__ = (Index("ix_drift_predictions_predicted_at", "predicted_at"),)

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    listing_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    predicted_price: Mapped[float] = mapped_column(Float, nullable=False)
    neighbourhood: Mapped[str] = mapped_column(String(200), nullable=False)
    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DriftSale(Base):
    """A realised sale price (kept so a prediction consumed later still joins)."""

    __tablename__ = "drift_sales"
    __table_args__ = (Index("ix_drift_sales_sold_at", "sold_at"),)

    listing_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sale_price: Mapped[float] = mapped_column(Float, nullable=False)
    sold_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DriftOutcome(Base):
    """A prediction joined to its realised price."""

    __tablename__ = "drift_outcomes"
    __table_args__ = (
        Index("ix_drift_outcomes_model_version_id", "model_name", "model_version", "id"),
    )

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    listing_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    neighbourhood: Mapped[str] = mapped_column(String(200), nullable=False)
    predicted_price: Mapped[float] = mapped_column(Float, nullable=False)
    actual_price: Mapped[float] = mapped_column(Float, nullable=False)
    abs_error: Mapped[float] = mapped_column(Float, nullable=False)
    abs_pct_error: Mapped[float] = mapped_column(Float, nullable=False)
    label_source: Mapped[str] = mapped_column(String(16), nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    joined_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )


class DriftShadowPair(Base):
    """The latest pair of valuations of a listing: the champion's and a challenger's."""

    __tablename__ = "drift_shadow_pairs"
    __table_args__ = (Index("ix_drift_shadow_pairs_predicted_at", "predicted_at"),)

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    challenger_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    listing_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    champion_version: Mapped[str] = mapped_column(String(50), nullable=False)
    champion_price: Mapped[float] = mapped_column(Float, nullable=False)
    champion_lower: Mapped[float] = mapped_column(Float, nullable=False)
    champion_upper: Mapped[float] = mapped_column(Float, nullable=False)
    challenger_price: Mapped[float] = mapped_column(Float, nullable=False)
    challenger_lower: Mapped[float] = mapped_column(Float, nullable=False)
    challenger_upper: Mapped[float] = mapped_column(Float, nullable=False)
    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DriftShadowEvaluation(Base):
    """A challenger under evaluation: the paired figures of its last look and its decision
    (set once: ``decision IS NULL`` guards the update, so one verdict per challenger)."""

    __tablename__ = "drift_shadow_evaluations"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    challenger_version: Mapped[str] = mapped_column(String(50), primary_key=True)
    champion_version: Mapped[str] = mapped_column(String(50), nullable=False)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), nullable=False
    )
    paired_sales: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    explanation: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
