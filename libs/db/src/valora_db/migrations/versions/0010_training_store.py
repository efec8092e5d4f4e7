"""training store: labelled listings, sales, training requests, label counters, optuna schema

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False, default: bool = True) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "training_listings",
        sa.Column("listing_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("area", sa.Float(), nullable=False),
        sa.Column("bedrooms", sa.Integer(), nullable=False),
        sa.Column("bathrooms", sa.Integer(), nullable=False),
        sa.Column("age", sa.Float(), nullable=False),
        sa.Column("garage", sa.Integer(), nullable=False),
        sa.Column("neighbourhood", sa.String(200), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        _ts("listed_at", nullable=True, default=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("listing_id", name="pk_training_listings"),
    )
    op.create_index("ix_training_listings_source", "training_listings", ["source"])
    op.create_table(
        "training_sales",
        sa.Column("listing_id", sa.String(200), nullable=False),
        sa.Column("sale_price", sa.Float(), nullable=False),
        _ts("sold_at", default=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("listing_id", name="pk_training_sales"),
    )
    op.create_table(
        "training_requests",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _ts("not_before", nullable=True, default=False),
        _ts("created_at"),
        _ts("started_at", nullable=True, default=False),
        _ts("finished_at", nullable=True, default=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("gate_passed", sa.Boolean(), nullable=True),
        sa.Column("trials_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("trials_total", sa.Integer(), nullable=True),
        sa.Column("best_rmse", sa.Float(), nullable=True),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_training_requests"),
    )
    op.create_index(
        "ix_training_requests_model_status", "training_requests", ["model_name", "status"]
    )
    op.create_table(
        "training_label_counters",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("new_labels", sa.BigInteger(), server_default="0", nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("model_name", name="pk_training_label_counters"),
    )
    # Optuna's RDB storage runs its own Alembic (table ``alembic_version``): keep it apart.
    op.execute("CREATE SCHEMA IF NOT EXISTS optuna")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS optuna CASCADE")
    op.drop_table("training_label_counters")
    op.drop_index("ix_training_requests_model_status", table_name="training_requests")
    op.drop_table("training_requests")
    op.drop_table("training_sales")
    op.drop_index("ix_training_listings_source", table_name="training_listings")
    op.drop_table("training_listings")
