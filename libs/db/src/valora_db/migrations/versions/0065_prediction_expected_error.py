"""predictions: expected_abs_error (the error model's estimate of each prediction's absolute error)

Nullable: models logged without an error model, and every prediction stored before it, have
none. Filled by the predictor from :attr:`valora_ml.pricemodel.Valuation.expected_error`.

Revision ID: 0065
Revises: 0060
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0065"
down_revision: str | None = "0060"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("expected_abs_error", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("predictions", "expected_abs_error")
