"""The drift monitor's readiness checks, served at ``/health/ready`` next to ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Readiness"]


class Readiness:
    """Ready when PostgreSQL answers a ``SELECT 1`` (Kafka is checked by the consumer app)."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def database(self) -> bool:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    @property
    def checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """The ``ready`` mapping of :func:`valora_observability.service_routes`."""
        return {"database": self.database}
