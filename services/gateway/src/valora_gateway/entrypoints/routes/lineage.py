"""What the platform knows: a stored prediction with its lineage, and the champion model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from valora_contracts import ListingFeatures
from valora_db.read_models.comparables import MAX_COMPARABLES

from valora_gateway.entrypoints.deps import ChampionDep, ComparablesDep, PredictionsDep, ReadScope
from valora_gateway.entrypoints.routes.predict import comparables_of
from valora_gateway.entrypoints.schemas import (
    ERROR_RESPONSES,
    ChampionResponse,
    ComparableSale,
    ComparablesResponse,
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


@router.get(
    "/predictions/{prediction_id}/comparables",
    response_model=ComparablesResponse,
    tags=["predictions"],
    summary="The labelled sales most comparable to a valued house",
)
async def get_comparables(
    prediction_id: str,
    predictions: PredictionsDep,
    reader: ComparablesDep,
    n: Annotated[int, Query(ge=1, le=MAX_COMPARABLES, description="How many.")] = 5,
) -> ComparablesResponse:
    """Same neighbourhood first, then the nearest in the model's inputs, then the most recent;
    each with its price (the sale price when one was observed) and that price's date."""
    row = await predictions.get(prediction_id)
    if row is None:
        raise PredictionNotFoundError(f"no prediction {prediction_id!r}")
    house = ListingFeatures.model_validate(row.features)
    found = await comparables_of(reader, house, n=n, exclude_listing_id=row.listing_id)
    return ComparablesResponse(
        prediction_id=prediction_id,
        comparables=[ComparableSale.of(c) for c in found],
        count=len(found),
    )


@router.get("/models/champion", response_model=ChampionResponse, tags=["models"])
async def champion(champion: ChampionDep) -> ChampionResponse:
    info = await champion.get()
    if info is None:
        raise NoChampionError("no champion model is registered yet")
    return ChampionResponse.of(info)
