"""What the platform knows: a stored prediction with its lineage, and the champion model."""

from __future__ import annotations

from fastapi import APIRouter

from valora_gateway.entrypoints.deps import ChampionDep, PredictionsDep, ReadScope
from valora_gateway.entrypoints.schemas import (
    ERROR_RESPONSES,
    ChampionResponse,
    StoredPrediction,
)
from valora_gateway.errors import NoChampionError, PredictionNotFoundError

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, dependencies=[ReadScope])


@router.get("/predictions/{prediction_id}", response_model=StoredPrediction, tags=["predictions"])
async def get_prediction(prediction_id: str, predictions: PredictionsDep) -> StoredPrediction:
    row = await predictions.get(prediction_id)
    if row is None:
        raise PredictionNotFoundError(f"no prediction {prediction_id!r}")
    return StoredPrediction.of(row)


@router.get("/models/champion", response_model=ChampionResponse, tags=["models"])
async def champion(champion: ChampionDep) -> ChampionResponse:
    info = await champion.get()
    if info is None:
        raise NoChampionError("no champion model is registered yet")
    return ChampionResponse.of(info)
