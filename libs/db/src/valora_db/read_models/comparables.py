"""Comparable sales: the labelled listings of the trainer's store nearest to a house.

How an appraiser checks a price: recent sales of similar houses, in the same neighbourhood
first. :func:`nearest_listings` returns up to ``n`` labelled listings of ``training_listings``
(the trainer's table), ordered by

1. same neighbourhood first (all of them before any other neighbourhood's),
2. then distance in the comparables space (below), nearest first,
3. then the most recent first (the sale date, else the listing date; undated last),

each with its price (the realised sale price when one was observed, else the asking price) and
that price's date. The house's own listing (``exclude_listing_id``) is never its comparable.

The comparables space is the model's numeric inputs in units of "about one room of difference":
``4·ln(area)`` (a 28 % larger area is one unit), bedrooms, bathrooms, age in decades and half a
unit per parking space; the neighbourhood (the model's one-hot block) is the first sort key.
PostgreSQL computes it with ``valora_comparable_point(...)`` and migration ``0041`` indexes it in
a GiST index on ``(neighbourhood, point)``: each half of the query (this neighbourhood, the
others) is an index scan that stops after ``n`` rows, never a scan of the table (a test checks
the plan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, FunctionElement, Integer, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from valora_db.tables.trainer import TrainingListing, TrainingSale

__all__ = ["MAX_COMPARABLES", "Comparable", "HouseFeatures", "nearest_listings", "point_of"]

MAX_COMPARABLES = 50
"""The most comparables one query returns."""

_L = TrainingListing.__table__.c
_S = TrainingSale.__table__.c


@dataclass(frozen=True, slots=True)
class HouseFeatures:
    """The house to find comparables for (the model's six inputs)."""

    area: float
    bedrooms: int
    bathrooms: int
    age: float
    garage: int
    neighbourhood: str


@dataclass(frozen=True, slots=True)
class Comparable:
    """A labelled listing near the house, with its price and that price's date."""

    listing_id: str
    neighbourhood: str
    area: float
    bedrooms: int
    bathrooms: int
    age: float
    garage: int
    price: float
    price_kind: str  # "sale" (a realised price) or "listing" (the asking price)
    priced_at: datetime | None
    same_neighbourhood: bool
    distance: float


def point_of(
    area: Any, bedrooms: Any, bathrooms: Any, age: Any, garage: Any
) -> FunctionElement[Any]:
    """``valora_comparable_point(...)``: the indexed expression (columns or bound values)."""
    return func.valora_comparable_point(area, bedrooms, bathrooms, age, garage)


def _nearest(house: HouseFeatures, *, same: bool, n: int, exclude: str | None) -> Any:
    target = point_of(
        literal(float(house.area), Float),
        literal(int(house.bedrooms), Integer),
        literal(int(house.bathrooms), Integer),
        literal(float(house.age), Float),
        literal(int(house.garage), Integer),
    )
    distance = point_of(_L.area, _L.bedrooms, _L.bathrooms, _L.age, _L.garage).op("<->")(target)
    where = (
        _L.neighbourhood == house.neighbourhood if same else _L.neighbourhood != house.neighbourhood
    )
    query = select(
        _L.listing_id,
        literal(same).label("same_neighbourhood"),
        distance.label("distance"),
    ).where(where)
    if exclude is not None:
        query = query.where(_L.listing_id != exclude)
    return query.order_by(distance).limit(n)


async def nearest_listings(
    conn: AsyncConnection, house: HouseFeatures, *, n: int, exclude_listing_id: str | None = None
) -> list[Comparable]:
    """Up to ``n`` (at most :data:`MAX_COMPARABLES`) comparables of ``house``, in the order of
    the module docstring."""
    n = max(0, min(int(n), MAX_COMPARABLES))
    if n == 0:
        return []
    near = union_all(
        _nearest(house, same=True, n=n, exclude=exclude_listing_id),
        _nearest(house, same=False, n=n, exclude=exclude_listing_id),
    ).subquery("near")
    priced_at = func.coalesce(_S.sold_at, _L.listed_at)
    query = (
        select(
            _L.listing_id,
            _L.neighbourhood,
            _L.area,
            _L.bedrooms,
            _L.bathrooms,
            _L.age,
            _L.garage,
            func.coalesce(_S.sale_price, _L.price).label("price"),
            (_S.sale_price.is_not(None)).label("sold"),
            priced_at.label("priced_at"),
            near.c.same_neighbourhood,
            near.c.distance,
        )
        .select_from(near)
        .join(TrainingListing, _L.listing_id == near.c.listing_id)
        .outerjoin(TrainingSale, _S.listing_id == _L.listing_id)
        .order_by(
            near.c.same_neighbourhood.desc(),
            near.c.distance,
            priced_at.desc().nulls_last(),
            _L.listing_id,
        )
        .limit(n)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [
        Comparable(
            listing_id=r["listing_id"],
            neighbourhood=r["neighbourhood"],
            area=float(r["area"]),
            bedrooms=int(r["bedrooms"]),
            bathrooms=int(r["bathrooms"]),
            age=float(r["age"]),
            garage=int(r["garage"]),
            price=float(r["price"]),
            price_kind="sale" if r["sold"] else "listing",
            priced_at=r["priced_at"],
            same_neighbourhood=bool(r["same_neighbourhood"]),
            distance=float(r["distance"]),
        )
        for r in rows
    ]
