"""Valora database: SQLAlchemy 2 models, async engine/session helpers, Alembic migrations."""

from valora_db.engine import (
    DatabaseReady,
    create_driver_pool,
    create_engine,
    create_session_factory,
    libpq_dsn,
    session_scope,
)
from valora_db.errors import DatabaseUnavailableError, ValoraDatabaseError, db_error_class
from valora_db.migrate import alembic_config, current_revision, head_revision, upgrade_head
from valora_db.models import Base

__all__ = [
    "Base",
    "DatabaseReady",
    "DatabaseUnavailableError",
    "ValoraDatabaseError",
    "alembic_config",
    "create_driver_pool",
    "create_engine",
    "create_session_factory",
    "current_revision",
    "db_error_class",
    "head_revision",
    "libpq_dsn",
    "session_scope",
    "upgrade_head",
]
