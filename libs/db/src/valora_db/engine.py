"""Async engine and session helpers (built by a composition root, never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "create_driver_pool",
    "create_engine",
    "create_session_factory",
    "session_scope",
]


def create_engine(
    url: str, *, pool_size: int = 5, echo: bool = False, pre_ping: bool = True
) -> AsyncEngine:
    """An asyncpg engine. With ``pre_ping`` (the default) every checkout first pings the
    server, so a restarted PostgreSQL is reconnected to transparently; a hot path may turn it
    off (a round trip per checkout) if it retries on a disconnect itself."""
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, echo=echo
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session


def _driver_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN (asyncpg's) of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(_: asyncpg.Connection) -> None:
    """No reset on release (asyncpg's default is a round trip: ``RESET ALL`` and friends)."""


async def create_driver_pool(
    url: str, *, size: int, application_name: str | None = None
) -> asyncpg.Pool:
    """A plain asyncpg pool, for a hot path that runs its own statements (one round trip per
    statement; a SQLAlchemy checkout plus asyncpg's reset on release cost as much again).

    Connections open lazily (no server needed to start) and are not reset when released, so
    use it only for statements that leave no session state behind (no ``SET``, advisory
    locks, ``LISTEN`` or open transactions).
    """
    settings = {"application_name": application_name} if application_name else None
    return await asyncpg.create_pool(
        _driver_dsn(url), min_size=0, max_size=size, reset=_keep_session, server_settings=settings
    )
