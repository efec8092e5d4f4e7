"""``POST /predict`` (the older project's body works unchanged) and ``POST /predict/batch``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import Response
from valora_contracts import ListingFeatures

from valora_gateway.entrypoints.deps import ClientDep, PredictScope, SettingsDep
from valora_gateway.entrypoints.schemas import (
    ERROR_RESPONSES,
    SEED_EXAMPLE,
    BatchPredictRequest,
    BatchPredictResponse,
    PredictResponse,
    model_json,
)
from valora_gateway.errors import TooManyItemsError

__all__ = ["router"]

router = APIRouter(tags=["predict"], dependencies=[PredictScope], responses=ERROR_RESPONSES)


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Value one house (the older project's body works unchanged)",
)
async def predict(
    house: Annotated[ListingFeatures, Body(examples=[SEED_EXAMPLE])], client: ClientDep
) -> Response:
    return model_json(PredictResponse.of(await client.predict_one(house)))


@router.post(
    "/predict/batch", response_model=BatchPredictResponse, summary="Value up to N houses at once"
)
async def predict_batch(
    body: BatchPredictRequest, client: ClientDep, settings: SettingsDep
) -> Response:
    limit = settings.gateway_batch_max_items
    if len(body.houses) > limit:
        raise TooManyItemsError(
            f"{len(body.houses)} houses exceed the limit of {limit} per request; "
            "use POST /batch-jobs for large files"
        )
    return model_json(BatchPredictResponse.of(await client.predict_many(body.houses)))
