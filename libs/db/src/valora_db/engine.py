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


def create_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> AsyncEngine:
    """An asyncpg engine with pre-ping, so a restarted PostgreSQL is reconnected to."""
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session
