"""predictions.source holds only sync, batch or stream (a CHECK, not only the application)

Revision ID: 0040
Revises: 0035
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_check_constraint(
        "ck_predictions_source", "predictions", "source IN ('sync', 'batch', 'stream')"
    )


def downgrade() -> None:
    op.drop_constraint("ck_predictions_source", "predictions", type_="check")
