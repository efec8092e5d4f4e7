"""The drift monitor's readiness checks, served at ``/health/ready`` next to ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Readiness"]


class Readiness:
    """Ready when Kafka answers a ping and PostgreSQL a ``SELECT 1``."""

    def __init__(self, *, broker: KafkaBroker, engine: AsyncEngine) -> None:
        self._broker = broker
        self._engine = engine

    async def kafka(self) -> bool:
        return bool(await self._broker.ping(timeout=1.0))

    async def database(self) -> bool:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    @property
    def checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """The ``ready`` mapping of :func:`valora_observability.service_routes`."""
        return {"kafka": self.kafka, "database": self.database}
