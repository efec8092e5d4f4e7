"""The champion model as MLflow knows it (cached), for ``GET /models/champion`` and readiness."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from valora_gateway.domain.champion import ChampionInfo

__all__ = ["ChampionLookup", "ChampionSource", "MlflowChampionSource"]

CHAMPION_ALIAS = "champion"


class ChampionSource(Protocol):
    def champion(self, name: str) -> ChampionInfo | None:
        """Blocking look-up (called from a thread); ``None`` when there is no champion."""
        ...


class MlflowChampionSource:
    def __init__(self, *, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion(self, name: str) -> ChampionInfo | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return None
            raise
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                metrics = dict(self._client.get_run(mv.run_id).data.metrics)
            except MlflowException:
                metrics = {}
        return ChampionInfo(
            model_name=name,
            model_version=str(mv.version),
            run_id=str(mv.run_id or ""),
            created_at_ms=mv.creation_timestamp,
            metrics=metrics,
        )


class ChampionLookup:
    """Caches the look-up for ``ttl_s`` (readiness probes must not hammer MLflow)."""

    def __init__(self, *, source: ChampionSource, model_name: str, ttl_s: float) -> None:
        self._source = source
        self._name = model_name
        self._ttl = ttl_s
        self._cached: tuple[float, ChampionInfo | None] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ChampionInfo | None:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self._ttl:
                return self._cached[1]
            info = await asyncio.to_thread(self._source.champion, self._name)
            self._cached = (time.monotonic(), info)
            return info

    async def is_ready(self) -> bool:
        """A readiness check: a champion is registered."""
        return await self.get() is not None
