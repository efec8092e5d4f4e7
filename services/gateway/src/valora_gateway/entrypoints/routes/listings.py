"""``POST /listings``: publish listings to the ingest topic (ingestion judges them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from valora_gateway.entrypoints.deps import ListingsDep, PublishScope, SettingsDep
from valora_gateway.entrypoints.schemas import ERROR_RESPONSES, SEED_EXAMPLE, ListingsAccepted
from valora_gateway.errors import TooManyItemsError

__all__ = ["router"]

router = APIRouter(tags=["listings"], responses=ERROR_RESPONSES)


@router.post(
    "/listings",
    status_code=202,
    response_model=ListingsAccepted,
    dependencies=[PublishScope],
    summary="Publish one listing (object) or many (array) to the ingest topic",
)
async def post_listings(
    body: Annotated[dict[str, Any] | list[dict[str, Any]], Body(examples=[SEED_EXAMPLE])],
    listings: ListingsDep,
    settings: SettingsDep,
) -> ListingsAccepted:
    records = body if isinstance(body, list) else [body]
    if len(records) > settings.gateway_batch_max_items:
        raise TooManyItemsError(f"at most {settings.gateway_batch_max_items} listings per request")
    count = await listings.publish(records)
    return ListingsAccepted(accepted=count, topic=listings.topic)
