"""Tables owned by the predictor: ``predictions`` (created by migration ``0020``).

Idempotency: a prediction is unique by ``(source, input_id)``. Sync inputs carry the gateway's
input id, batch inputs ``<job id>:<row index>``, stream inputs ``<listing id>:<content hash>``,
so a redelivered request or listing never adds a second row (``ON CONFLICT DO NOTHING``).
Other services read it through :mod:`valora_db.read_models.predictions`.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from valora_db.models import Base

__all__ = ["SOURCES", "predictions", "shadow_predictions"]

SOURCES = ("sync", "batch", "stream")
"""Who asked for a prediction (``PredictionSource`` of the contracts); the column holds only
these, enforced by ``ck_predictions_source`` (migration ``0040``)."""

# One stored valuation with its lineage.
predictions = Table(
    "predictions",
    Base.metadata,
    Column("prediction_id", String(32), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("input_id", String(255), nullable=False),
    Column("listing_id", String(255), nullable=True),
    Column("batch_job_id", String(32), nullable=True),
    Column("correlation_id", String(64), nullable=True),
    Column("features", JSONB, nullable=False),
    Column("price", Float, nullable=False),
    Column("lower_bound", Float, nullable=False),
    Column("upper_bound", Float, nullable=False),
    Column("interval_level", Float, nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("warnings", JSONB, nullable=False),
    Column("input_hash", String(64), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("expected_abs_error", Float, nullable=True),  # the error model's estimate (0065)
    UniqueConstraint("source", "input_id", name="uq_predictions_source_input"),
    CheckConstraint(f"source IN {SOURCES!r}", name="source"),
    Index("ix_predictions_batch_job_id", "batch_job_id"),
    Index("ix_predictions_listing_id", "listing_id"),
    Index("ix_predictions_created_at", "created_at"),
)

# The challenger's answer to a stored prediction (never returned to the caller): one row per
# (prediction, challenger version), so a redelivered input adds nothing.
shadow_predictions = Table(
    "shadow_predictions",
    Base.metadata,
    Column("prediction_id", String(32), primary_key=True),
    Column("model_version", String(50), primary_key=True),
    Column("model_name", String(200), nullable=False),
    Column("price", Float, nullable=False),
    Column("lower_bound", Float, nullable=False),
    Column("upper_bound", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_shadow_predictions_created_at", "created_at"),
)
