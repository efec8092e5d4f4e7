"""Alembic migrations, run programmatically (one tree for the whole platform)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from valora_db.engine import create_engine

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade_head"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_head(database_url: str) -> None:
    """Apply every migration up to head (idempotent). Sync: call from a thread in async code."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(
        alembic_config("postgresql+asyncpg://x/x")
    ).get_current_head()


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""

    def _rev(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_rev)
    finally:
        await engine.dispose()


if __name__ == "__main__":  # pragma: no cover - convenience for operators
    import sys

    asyncio.run(asyncio.to_thread(upgrade_head, sys.argv[1]))
