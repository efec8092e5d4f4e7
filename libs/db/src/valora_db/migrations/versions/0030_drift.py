"""drift monitor: alert state, alerts, outbox, windows, prediction/label join

Revision ID: 0030
Revises: 0020
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.sql.elements.TextClause:
    return sa.text("now()")


def _ts(name: str, nullable: bool = False) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "drift_alert_state",
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("statistic", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="ok"),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("clear_streak", sa.Integer(), nullable=False, server_default="0"),
        _ts("fired_at", True),
        _ts("resolved_at", True),
        _ts("notified_at", True),
        sa.Column("suppressed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key", name="pk_drift_alert_state"),
    )

    op.create_table(
        "drift_alerts",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("statistic", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        _ts("window_start"),
        _ts("window_end"),
        sa.Column("window_size", sa.Integer(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_drift_alerts"),
    )
    op.create_index("ix_drift_alerts_dedupe_key", "drift_alerts", ["dedupe_key"])
    op.create_index("ix_drift_alerts_model_created", "drift_alerts", ["model_name", "created_at"])

    op.create_table(
        "drift_outbox",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        _ts("published_at", True),
        sa.PrimaryKeyConstraint("event_id", name="pk_drift_outbox"),
    )
    op.create_index(
        "ix_drift_outbox_pending",
        "drift_outbox",
        ["created_at"],
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "drift_windows",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("window_start"),
        _ts("window_end"),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(200), nullable=False),
        sa.Column("features", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drift_windows"),
    )
    op.create_index("ix_drift_windows_model_kind", "drift_windows", ["model_name", "kind", "id"])

    op.create_table(
        "drift_predictions",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("listing_id", sa.String(255), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("predicted_price", sa.Float(), nullable=False),
        sa.Column("neighbourhood", sa.String(200), nullable=False),
        _ts("predicted_at"),
        sa.PrimaryKeyConstraint("model_name", "listing_id", name="pk_drift_predictions"),
    )
    op.create_index("ix_drift_predictions_predicted_at", "drift_predictions", ["predicted_at"])

    op.create_table(
        "drift_sales",
        sa.Column("listing_id", sa.String(255), nullable=False),
        sa.Column("sale_price", sa.Float(), nullable=False),
        _ts("sold_at"),
        sa.PrimaryKeyConstraint("listing_id", name="pk_drift_sales"),
    )
    op.create_index("ix_drift_sales_sold_at", "drift_sales", ["sold_at"])

    op.create_table(
        "drift_outcomes",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("listing_id", sa.String(255), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("neighbourhood", sa.String(200), nullable=False),
        sa.Column("predicted_price", sa.Float(), nullable=False),
        sa.Column("actual_price", sa.Float(), nullable=False),
        sa.Column("abs_error", sa.Float(), nullable=False),
        sa.Column("abs_pct_error", sa.Float(), nullable=False),
        sa.Column("label_source", sa.String(16), nullable=False),
        _ts("observed_at"),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "model_version", "listing_id", name="pk_drift_outcomes"
        ),
        sa.UniqueConstraint("id", name="uq_drift_outcomes_id"),
    )
    op.create_index(
        "ix_drift_outcomes_model_version_id",
        "drift_outcomes",
        ["model_name", "model_version", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_drift_outcomes_model_version_id", table_name="drift_outcomes")
    op.drop_table("drift_outcomes")
    op.drop_index("ix_drift_sales_sold_at", table_name="drift_sales")
    op.drop_table("drift_sales")
    op.drop_index("ix_drift_predictions_predicted_at", table_name="drift_predictions")
    op.drop_table("drift_predictions")
    op.drop_index("ix_drift_windows_model_kind", table_name="drift_windows")
    op.drop_table("drift_windows")
    op.drop_index("ix_drift_outbox_pending", table_name="drift_outbox")
    op.drop_table("drift_outbox")
    op.drop_index("ix_drift_alerts_model_created", table_name="drift_alerts")
    op.drop_index("ix_drift_alerts_dedupe_key", table_name="drift_alerts")
    op.drop_table("drift_alerts")
    op.drop_table("drift_alert_state")
