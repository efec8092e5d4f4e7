"""valora_db: the metadata Alembic compares against is exactly what the migrations create.

The migrations are rendered offline (``alembic upgrade head --sql``: no database), so a table
defined in code but never migrated, a migration's table missing from ``valora_db.tables``, or
a column whose type or nullability differs, fails here rather than in production.
"""

from __future__ import annotations

import io
import re
from dataclasses import fields

import pytest
from alembic import command
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from valora_db import alembic_config
from valora_db.read_models.predictions import StoredPrediction
from valora_db.tables import metadata
from valora_db.tables.predictor import predictions

pytestmark = pytest.mark.unit

_DEFAULT = re.compile(r" DEFAULT (?:'[^']*'|\S+)")


def _columns(create_table: str) -> set[str]:
    """``name TYPE [NOT NULL]`` of each column of a CREATE TABLE statement (defaults aside)."""
    body = create_table[create_table.index("(") + 1 :]
    return {
        _DEFAULT.sub("", line.strip().rstrip(",").strip())
        for line in body.splitlines()
        if line[:1] in (" ", "\t") and not line.strip().startswith("CONSTRAINT")
    }


def _migrated_tables() -> dict[str, set[str]]:
    config = alembic_config("postgresql+asyncpg://offline/valora")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    created = {
        m.group(1): _columns(m.group(0))
        for m in re.finditer(r"CREATE TABLE (\w+) \(.*?\n\);", sql, re.S)
    }
    for dropped in re.findall(r"DROP TABLE (\w+)", sql):
        created.pop(dropped)
    for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN ([^;]+);", sql):
        created[table].add(_DEFAULT.sub("", column.strip()))
    created.pop("alembic_version")
    return created


def test_metadata_has_exactly_the_migrated_tables_and_columns() -> None:
    migrated = _migrated_tables()
    assert set(metadata.tables) == set(migrated)
    for name, table in metadata.tables.items():
        compiled = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert _columns(compiled) == migrated[name], name


def test_processed_events_is_gone() -> None:
    assert "processed_events" not in _migrated_tables()


def test_the_prediction_read_model_reads_every_column() -> None:
    assert [f.name for f in fields(StoredPrediction)] == list(predictions.columns.keys())


def test_every_table_is_written_by_exactly_one_service_role() -> None:
    from valora_db.roles import READS, service_roles

    roles = service_roles()
    writers: dict[str, list[str]] = {}
    for role in roles:
        for table in role.writes:
            writers.setdefault(table, []).append(role.service)
    assert set(writers) == set(metadata.tables)
    assert all(len(owners) == 1 for owners in writers.values()), writers
    for service, tables in READS.items():
        assert set(tables) <= set(metadata.tables)
        assert not set(tables) & set(next(r for r in roles if r.service == service).writes)
