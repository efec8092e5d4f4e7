"""Tables owned by the trainer service: the training store (labelled listings, realised sales),
training requests and label counters. Created by migration ``0010``; only the trainer writes
them. Other readers go through read models: ``valora train`` follows ``training_requests``
(:mod:`valora_db.read_models.training_requests`) and the gateway finds comparable sales in
``training_listings`` (:mod:`valora_db.read_models.comparables`, on the area indexes of
migration ``0060``). Optuna's study
tables live in the separate ``optuna`` schema (Optuna runs its own Alembic, whose
``alembic_version`` table would clash with Valora's in the default schema).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from valora_db.models import Base

__all__ = [
    "OPTUNA_SCHEMA",
    "REQUEST_STATUSES",
    "TrainingLabelCounter",
    "TrainingListing",
    "TrainingRequestRow",
    "TrainingSale",
]

OPTUNA_SCHEMA = "optuna"
REQUEST_STATUSES = ("pending", "running", "done", "failed")


class TrainingListing(Base):
    """A labelled validated listing (upserted by ``listing_id``)."""

    __tablename__ = "training_listings"

    listing_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    area: Mapped[float] = mapped_column(Float, nullable=False)
    bedrooms: Mapped[int] = mapped_column(Integer, nullable=False)
    bathrooms: Mapped[int] = mapped_column(Integer, nullable=False)
    age: Mapped[float] = mapped_column(Float, nullable=False)
    garage: Mapped[int] = mapped_column(Integer, nullable=False)
    neighbourhood: Mapped[str] = mapped_column(String(200), nullable=False)
    price: Mapped[float] = mapped_column(Float, nullable=False)
    listed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        Index("ix_training_listings_source", "source"),
        Index("ix_training_listings_neighbourhood_area", "neighbourhood", "area"),
        Index("ix_training_listings_area", "area"),
    )


class TrainingSale(Base):
    """A realised sale price: the label that wins over the asking price."""

    __tablename__ = "training_sales"

    listing_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sale_price: Mapped[float] = mapped_column(Float, nullable=False)
    sold_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class TrainingRequestRow(Base):
    """A durable training request: recorded by the consumer, run by the background runner."""

    __tablename__ = "training_requests"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    trials: Mapped[int | None] = mapped_column(Integer, nullable=True)
    promotion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    trace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gate_passed: Mapped[bool | None] = mapped_column(nullable=True)
    trials_done: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    trials_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_rmse: Mapped[float | None] = mapped_column(Float, nullable=True)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_training_requests_model_status", "model_name", "status"),)


class TrainingLabelCounter(Base):
    """New labels since the last ``new_labels`` trigger, per model name."""

    __tablename__ = "training_label_counters"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    new_labels: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
