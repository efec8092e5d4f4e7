"""shadow challengers: the predictor's shadow answers; the drift monitor's pairs and evaluations

``training_requests.promotion`` (trainer): a request's override of ``promotion`` (shadow or
direct). ``shadow_predictions`` (predictor): the challenger's answer to a stored prediction, never
returned. ``drift_shadow_pairs`` and ``drift_shadow_evaluations`` (drift monitor): the latest
champion/challenger pair per listing, and per challenger the paired figures and its decision.

Revision ID: 0070
Revises: 0065
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0070"
down_revision: str | None = "0065"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.sql.elements.TextClause:
    return sa.text("now()")


def _floats(*names: str) -> list["sa.Column[float]"]:
    return [sa.Column(name, sa.Float(), nullable=False) for name in names]


def upgrade() -> None:
    op.add_column("training_requests", sa.Column("promotion", sa.String(16), nullable=True))
    op.create_table(
        "shadow_predictions",
        sa.Column("prediction_id", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        *_floats("price", "lower_bound", "upper_bound"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", "model_version", name="pk_shadow_predictions"),
    )
    op.create_index("ix_shadow_predictions_created_at", "shadow_predictions", ["created_at"])
    op.create_table(
        "drift_shadow_pairs",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("challenger_version", sa.String(50), nullable=False),
        sa.Column("listing_id", sa.String(255), nullable=False),
        sa.Column("champion_version", sa.String(50), nullable=False),
        *_floats("champion_price", "champion_lower", "champion_upper"),
        *_floats("challenger_price", "challenger_lower", "challenger_upper"),
        sa.Column("predicted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_name", "challenger_version", "listing_id", name="pk_drift_shadow_pairs"
        ),
    )
    op.create_index("ix_drift_shadow_pairs_predicted_at", "drift_shadow_pairs", ["predicted_at"])
    op.create_table(
        "drift_shadow_evaluations",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("challenger_version", sa.String(50), nullable=False),
        sa.Column("champion_version", sa.String(50), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("paired_sales", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "figures", postgresql.JSONB(), server_default="{}", nullable=False
        ),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("explanation", sa.String(2000), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "model_name", "challenger_version", name="pk_drift_shadow_evaluations"
        ),
    )


def downgrade() -> None:
    op.drop_table("drift_shadow_evaluations")
    op.drop_index("ix_drift_shadow_pairs_predicted_at", table_name="drift_shadow_pairs")
    op.drop_table("drift_shadow_pairs")
    op.drop_index("ix_shadow_predictions_created_at", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
    op.drop_column("training_requests", "promotion")
