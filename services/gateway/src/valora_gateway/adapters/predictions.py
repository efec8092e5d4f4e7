"""Stored predictions for ``GET /predictions/{id}``, through the predictor's read model."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from valora_db.read_models.predictions import StoredPrediction, get_prediction

__all__ = ["SqlPredictionReader"]


class SqlPredictionReader:
    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, prediction_id: str) -> StoredPrediction | None:
        async with self._engine.connect() as conn:
            return await get_prediction(conn, prediction_id)
