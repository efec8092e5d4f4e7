"""Async engine and session helpers (built by a composition root, never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "DatabaseReady",
    "create_driver_pool",
    "create_engine",
    "create_session_factory",
    "libpq_dsn",
    "session_scope",
]


DEFAULT_COMMAND_TIMEOUT_S = 15.0
DEFAULT_ACQUIRE_TIMEOUT_S = 10.0


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    echo: bool = False,
    pre_ping: bool = True,
    command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
    acquire_timeout_s: float = DEFAULT_ACQUIRE_TIMEOUT_S,
) -> AsyncEngine:
    """An asyncpg engine. With ``pre_ping`` (the default) every checkout first pings the
    server, so a restarted PostgreSQL is reconnected to transparently; a hot path may turn it
    off (a round trip per checkout) if it retries on a disconnect itself.

    Every statement times out after ``command_timeout_s`` and a checkout (or a connect) after
    ``acquire_timeout_s``: a hung or frozen server becomes a transient error the consumers'
    error policy backs off from, never a caller waiting forever."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_timeout=acquire_timeout_s,
        echo=echo,
        connect_args={"command_timeout": command_timeout_s, "timeout": acquire_timeout_s},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session


def libpq_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN of a SQLAlchemy URL (asyncpg's, psycopg's, libpq's):
    no driver suffix, ``ssl=<mode>`` spelled ``sslmode=<mode>``."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "ssl" in query:  # SQLAlchemy passes ``ssl`` to asyncpg.connect; a DSN says ``sslmode``
        query["sslmode"] = query.pop("ssl")
    return parsed.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


async def _keep_session(_: asyncpg.Connection) -> None:
    """No reset on release (asyncpg's default is a round trip: ``RESET ALL`` and friends)."""


async def create_driver_pool(
    url: str,
    *,
    size: int,
    application_name: str | None = None,
    command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_ACQUIRE_TIMEOUT_S,
) -> asyncpg.Pool:
    """A plain asyncpg pool, for a hot path that runs its own statements (one round trip per
    statement; a SQLAlchemy checkout plus asyncpg's reset on release cost as much again).

    Connections open lazily (no server needed to start) and are not reset when released, so
    use it only for statements that leave no session state behind (no ``SET``, advisory
    locks, ``LISTEN`` or open transactions). Statements time out after ``command_timeout_s``
    and connecting after ``connect_timeout_s`` (pass a timeout to ``pool.acquire`` too).
    """
    settings = {"application_name": application_name} if application_name else None
    return await asyncpg.create_pool(
        libpq_dsn(url),
        min_size=0,
        max_size=size,
        reset=_keep_session,
        server_settings=settings,
        command_timeout=command_timeout_s,
        timeout=connect_timeout_s,
    )


class DatabaseReady:
    """A readiness check: ready while PostgreSQL answers ``SELECT 1`` on ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self) -> bool:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
