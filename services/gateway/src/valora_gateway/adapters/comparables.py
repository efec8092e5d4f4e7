"""Comparable sales for the routes, through the trainer's read model."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from valora_contracts import ListingFeatures
from valora_db.read_models.comparables import Comparable, HouseFeatures, nearest_listings

__all__ = ["SqlComparablesReader"]


class SqlComparablesReader:
    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def nearest(
        self, house: ListingFeatures, *, n: int, exclude_listing_id: str | None = None
    ) -> list[Comparable]:
        features = HouseFeatures(
            area=house.area,
            bedrooms=house.bedrooms,
            bathrooms=house.bathrooms,
            age=house.age,
            garage=house.garage,
            neighbourhood=house.neighbourhood,
        )
        async with self._engine.connect() as conn:
            return await nearest_listings(
                conn, features, n=n, exclude_listing_id=exclude_listing_id
            )
