"""Tables of the serving path: stored predictions, batch jobs and their input rows.

Idempotency: a prediction is unique by ``(source, input_id)``. Sync inputs carry the gateway's
input id, batch inputs ``<job id>:<row index>``, stream inputs ``<listing id>:<content hash>``,
so a redelivered request or listing never adds a second row (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from valora_db.models import Base

__all__ = ["BatchJob", "BatchJobRow", "Prediction"]


class Prediction(Base):
    """One stored valuation with its lineage."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("source", "input_id", name="uq_predictions_source_input"),
        Index("ix_predictions_batch_job_id", "batch_job_id"),
        Index("ix_predictions_listing_id", "listing_id"),
        Index("ix_predictions_created_at", "created_at"),
    )

    prediction_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    input_id: Mapped[str] = mapped_column(String(255), nullable=False)
    listing_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    batch_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    features: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    price: Mapped[float] = mapped_column(Float, nullable=False)
    lower_bound: Mapped[float] = mapped_column(Float, nullable=False)
    upper_bound: Mapped[float] = mapped_column(Float, nullable=False)
    interval_level: Mapped[float] = mapped_column(Float, nullable=False)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    run_id: Mapped[str] = mapped_column(String(64), nullable=False)
    warnings: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    input_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    trace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class BatchJob(Base):
    """An uploaded file of houses to value asynchronously."""

    __tablename__ = "batch_jobs"
    __table_args__ = (Index("ix_batch_jobs_status", "status"),)

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    input_format: Mapped[str] = mapped_column(String(8), nullable=False)
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    invalid_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchJobRow(Base):
    """One input row of a batch job (valid rows carry features, invalid ones an error)."""

    __tablename__ = "batch_job_rows"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    input_id: Mapped[str] = mapped_column(String(255), nullable=False)
    listing_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    features: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
