"""Async engine and session helpers (built by a composition root, never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["create_engine", "create_session_factory", "session_scope"]


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
