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

**An index, not a scan.** Each half (the house's neighbourhood; the others, looked in only when
it holds fewer than ``n`` listings) walks a b-tree (migration ``0060``: ``(neighbourhood, area)``
and ``area``) outwards from the house's area: the :data:`POOL_PER_SIDE` ``x n`` listings just
above it and as many just below, and ranks that pool by the full distance. Area dominates the
space, so the pool holds the nearest listings whenever fewer than that many listings lie
between the house's area and theirs (always in a neighbourhood of up to ``2 x 25 x n`` listings,
and in practice beyond); the cost is bounded by the pool, whatever the store's size, and the
store's writes stay cheap (a GiST index on the 5-dimensional point made inserts 16 times
slower). Listings at exactly the ``n``-th distance are cut arbitrarily; recency orders the ones
returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from valora_db.tables.trainer import TrainingListing, TrainingSale

__all__ = [
    "MAX_COMPARABLES",
    "POOL_PER_SIDE",
    "Comparable",
    "HouseFeatures",
    "comparables_query",
    "nearest_listings",
]

MAX_COMPARABLES = 50
"""The most comparables one query returns."""
POOL_PER_SIDE = 25
"""Listings read on each side of the house's area, per comparable asked for."""
AREA_WEIGHT = 4.0
AGE_DECADE = 10.0
GARAGE_WEIGHT = 0.5

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


def _distance(house: HouseFeatures) -> Any:
    """The distance of each row to ``house`` in the comparables space (SQL expression)."""
    log_area = AREA_WEIGHT * math.log(max(house.area, 1e-6))
    terms = [
        AREA_WEIGHT * func.ln(func.greatest(_L.area, 1e-6)) - log_area,
        _L.bedrooms - house.bedrooms,
        _L.bathrooms - house.bathrooms,
        (_L.age - house.age) / AGE_DECADE,
        (_L.garage - house.garage) * GARAGE_WEIGHT,
    ]
    return func.sqrt(sum((t * t for t in terms), literal(0.0)))


def _side(house: HouseFeatures, *, same: bool, above: bool, size: int, exclude: str | None) -> Any:
    """The ``size`` listings of one half just above (or below) the house's area."""
    hood = _L.neighbourhood
    side = select(_L.listing_id).where(
        hood == house.neighbourhood if same else hood != house.neighbourhood,
        _L.area >= house.area if above else _L.area < house.area,
    )
    if exclude is not None:
        side = side.where(_L.listing_id != exclude)
    return side.order_by(_L.area.asc() if above else _L.area.desc()).limit(size)


def comparables_query(
    house: HouseFeatures, *, n: int, exclude_listing_id: str | None, same: bool = True
) -> Any:
    """One half (``same``: the house's neighbourhood): its ``n`` nearest in the pool around
    the house's area, with their labels, nearest then most recent first."""
    size = POOL_PER_SIDE * n
    pool = union_all(
        _side(house, same=same, above=True, size=size, exclude=exclude_listing_id),
        _side(house, same=same, above=False, size=size, exclude=exclude_listing_id),
    ).subquery("pool")
    distance = _distance(house).label("distance")
    priced_at = func.coalesce(_S.sold_at, _L.listed_at)
    return (
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
            distance,
        )
        .select_from(pool)
        .join(TrainingListing, _L.listing_id == pool.c.listing_id)
        .outerjoin(TrainingSale, _S.listing_id == _L.listing_id)
        .order_by(distance, priced_at.desc().nulls_last(), _L.listing_id)
        .limit(n)
    )


async def nearest_listings(
    conn: AsyncConnection, house: HouseFeatures, *, n: int, exclude_listing_id: str | None = None
) -> list[Comparable]:
    """Up to ``n`` (at most :data:`MAX_COMPARABLES`) comparables of ``house``, in the order of
    the module docstring."""
    n = max(0, min(int(n), MAX_COMPARABLES))
    if n == 0:
        return []
    same = comparables_query(house, n=n, exclude_listing_id=exclude_listing_id)
    found = [_comparable(r, True) for r in (await conn.execute(same)).mappings().all()]
    if len(found) < n:
        others = comparables_query(
            house, n=n - len(found), exclude_listing_id=exclude_listing_id, same=False
        )
        found += [_comparable(r, False) for r in (await conn.execute(others)).mappings().all()]
    return found


def _comparable(r: Any, same: bool) -> Comparable:
    return Comparable(
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
        same_neighbourhood=same,
        distance=float(r["distance"]),
    )
