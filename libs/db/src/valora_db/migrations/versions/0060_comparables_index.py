"""training_listings: indexes for comparable sales ((neighbourhood, area) and area, b-tree)

The comparables read model (:mod:`valora_db.read_models.comparables`) finds the listings nearest
to a house by widening an area window around it: ``(neighbourhood, area)`` serves the house's own
neighbourhood, ``area`` the others. B-trees keep the training store's upserts cheap (a GiST
index on the 5-dimensional point cost 16 times the insert time of the table itself).

Revision ID: 0060
Revises: 0050
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0060"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_training_listings_neighbourhood_area", "training_listings", ["neighbourhood", "area"]
    )
    op.create_index("ix_training_listings_area", "training_listings", ["area"])


def downgrade() -> None:
    op.drop_index("ix_training_listings_area", table_name="training_listings")
    op.drop_index("ix_training_listings_neighbourhood_area", table_name="training_listings")
