"""Tables owned by the gateway: batch jobs and their input rows (created by migration ``0020``).

A job's progress is the number of its rows with a stored prediction (the predictor's
``predictions``, read through :mod:`valora_db.read_models.predictions`).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB

from valora_db.models import Base

__all__ = ["JOB_STATUSES", "batch_job_rows", "batch_jobs"]

JOB_STATUSES = ("pending", "running", "completed", "failed")

# An uploaded file of houses to value asynchronously.
batch_jobs = Table(
    "batch_jobs",
    Base.metadata,
    Column("job_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("input_format", String(8), nullable=False),
    Column("total_rows", Integer, nullable=False),
    Column("invalid_rows", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    # Times the job's rows were sent (migration 0050): bounded by the gateway's settings.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Index("ix_batch_jobs_status", "status"),
)

# One input row of a batch job: valid rows carry features, invalid ones an error.
batch_job_rows = Table(
    "batch_job_rows",
    Base.metadata,
    Column("job_id", String(32), primary_key=True),
    Column("row_index", Integer, primary_key=True),
    Column("input_id", String(255), nullable=False),
    Column("listing_id", String(255), nullable=True),
    Column("features", JSONB, nullable=True),
    Column("error", Text, nullable=True),
)
