"""training_listings: a nearest-neighbour index for comparable sales (cube + btree_gist GiST)

``valora_comparable_point(area, bedrooms, bathrooms, age, garage)`` places a listing in the
space comparables are searched in (see :mod:`valora_db.read_models.comparables`); the GiST
index on ``(neighbourhood, point)`` answers "the k nearest in this neighbourhood" (and in the
others) by walking the index, never by scanning the table. ``cube`` and ``btree_gist`` ship with
PostgreSQL (contrib) and are trusted extensions: the database owner may create them.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One unit is about one room of difference: 4 * ln(area) (a 28 % larger area), a bedroom, a
# bathroom, a decade of age, two parking spaces. Keep in step with read_models/comparables.py.
POINT_FUNCTION = """
CREATE FUNCTION valora_comparable_point(
    area double precision, bedrooms integer, bathrooms integer, age double precision,
    garage integer
) RETURNS cube
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT cube(ARRAY[
    4.0 * ln(greatest(area, 1e-6)), bedrooms::float8, bathrooms::float8, age / 10.0,
    garage * 0.5
]) $$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(POINT_FUNCTION)
    op.execute(
        "CREATE INDEX ix_training_listings_comparables ON training_listings USING gist "
        "(neighbourhood, valora_comparable_point(area, bedrooms, bathrooms, age, garage))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_training_listings_comparables")
    op.execute("DROP FUNCTION IF EXISTS valora_comparable_point")
