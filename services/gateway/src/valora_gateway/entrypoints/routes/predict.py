"""``POST /predict`` (the older project's body works unchanged) and ``POST /predict/batch``.

A house that breaks the platform's data contract is answered 422 naming each rule (see
:mod:`valora_gateway.domain.house_check`), before any model sees it; ``?comparables=N`` adds
the N most comparable labelled sales to the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from valora_contracts import ListingFeatures, PredictionResult
from valora_db.read_models.comparables import MAX_COMPARABLES, Comparable

from valora_gateway.entrypoints.deps import (
    ClientDep,
    HouseCheckDep,
    PredictScope,
    ServicesDep,
    SettingsDep,
)
from valora_gateway.entrypoints.ports import ComparablesReader
from valora_gateway.entrypoints.schemas import (
    BATCH_NO_COMPARABLES,
    ERROR_RESPONSES,
    NO_COMPARABLES,
    SEED_EXAMPLE,
    BatchPredictRequest,
    BatchPredictResponse,
    PredictResponse,
    model_json,
)
from valora_gateway.errors import (
    ComparablesUnavailableError,
    ContractViolationError,
    TooManyItemsError,
)

__all__ = ["comparables_of", "router"]

router = APIRouter(tags=["predict"], dependencies=[PredictScope], responses=ERROR_RESPONSES)


async def comparables_of(
    reader: ComparablesReader | None,
    house: ListingFeatures,
    *,
    n: int,
    exclude_listing_id: str | None = None,
) -> list[Comparable]:
    """The ``n`` comparable sales of ``house`` (503 when no reader is configured)."""
    if reader is None:
        raise ComparablesUnavailableError("comparable sales are not available on this gateway")
    return await reader.nearest(house, n=n, exclude_listing_id=exclude_listing_id)


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Value one house (the older project's body works unchanged)",
)
async def predict(
    house: Annotated[ListingFeatures, Body(examples=[SEED_EXAMPLE])],
    services: ServicesDep,
    comparables: Annotated[
        int,
        Query(ge=0, le=MAX_COMPARABLES, description="Also return this many comparable sales."),
    ] = 0,
) -> Response:
    violations = services.house_check.violations(house)
    if violations:
        raise ContractViolationError(violations)
    result: PredictionResult = await services.client.predict_one(house)
    found = None
    if comparables:
        found = await comparables_of(services.comparables, house, n=comparables)
    response = PredictResponse.of(result, found)
    return model_json(response, exclude=NO_COMPARABLES if found is None else None)


@router.post(
    "/predict/batch", response_model=BatchPredictResponse, summary="Value up to N houses at once"
)
async def predict_batch(
    body: BatchPredictRequest, client: ClientDep, settings: SettingsDep, check: HouseCheckDep
) -> Response:
    limit = settings.gateway_batch_max_items
    if len(body.houses) > limit:
        raise TooManyItemsError(
            f"{len(body.houses)} houses exceed the limit of {limit} per request; "
            "use POST /batch-jobs for large files"
        )
    violations = check.batch_violations(body.houses)
    if violations:
        raise ContractViolationError(violations)
    response = BatchPredictResponse.of(await client.predict_many(body.houses))
    return model_json(response, exclude=BATCH_NO_COMPARABLES)
