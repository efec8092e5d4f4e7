"""Comparable sales on the real PostgreSQL (migration 0060's indexes, the read model).

1. The order: same neighbourhood first, then the nearest, then the most recent; a realised sale
   replaces the asking price (and its date); the house's own listing is left out.
2. At 100,000 stored listings both halves of the query (this neighbourhood; the others, for a
   neighbourhood with too few listings) walk their index (the plan has no sequential scan of
   ``training_listings``), and the median query times are printed.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, text
from sqlalchemy.dialects import postgresql
from valora_db import create_engine
from valora_db.read_models.comparables import (
    HouseFeatures,
    comparables_query,
    nearest_listings,
)
from valora_db.tables.trainer import TrainingListing, TrainingSale

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _row(source: str, key: str, hood: str, area: float, days: int, **kw: Any) -> dict[str, Any]:
    return {
        "listing_id": f"{source}-{key}", "source": source, "area": area,
        "bedrooms": kw.get("bedrooms", 2), "bathrooms": 1, "age": 10.0, "garage": 1,
        "neighbourhood": hood, "price": kw.get("price", 100_000.0),
        "listed_at": T0 + timedelta(days=days), "content_hash": "h", "event_id": "e",
    }  # fmt: skip


async def test_same_neighbourhood_first_then_nearest_then_most_recent(devstack: Any) -> None:
    engine = create_engine(devstack.database_url)
    source = f"it-comp-{uuid.uuid4().hex[:8]}"
    here, there = f"{source}-here", f"{source}-there"
    rows = [
        _row(source, "own", here, 100.0, 0),  # the house's own listing
        _row(source, "far-here", here, 300.0, 0),
        _row(source, "twin-old", here, 110.0, 1),
        _row(source, "twin-new", here, 110.0, 9),  # same distance, more recent
        _row(source, "sold", here, 105.0, 2, price=1.0),
        _row(source, "near-there", there, 100.0, 0),
    ]
    sold_at = T0 + timedelta(days=30)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(TrainingListing), rows)
            await conn.execute(
                insert(TrainingSale),
                [{"listing_id": f"{source}-sold", "sale_price": 123_000.0, "sold_at": sold_at,
                  "event_id": "s"}],
            )  # fmt: skip
        house = HouseFeatures(
            area=100.0, bedrooms=2, bathrooms=1, age=10.0, garage=1, neighbourhood=here
        )
        async with engine.connect() as conn:
            found = await nearest_listings(conn, house, n=5, exclude_listing_id=f"{source}-own")
        ids = [c.listing_id.removeprefix(f"{source}-") for c in found]
        assert ids == ["sold", "twin-new", "twin-old", "far-here", "near-there"]
        assert [c.same_neighbourhood for c in found] == [True, True, True, True, False]
        sold = found[0]
        assert (sold.price, sold.price_kind, sold.priced_at) == (123_000.0, "sale", sold_at)
        assert found[1].price_kind == "listing"
        assert found[1].priced_at == T0 + timedelta(days=9)
        assert found[4].distance == pytest.approx(0.0)
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(TrainingSale).where(TrainingSale.listing_id.like(f"{source}-%"))
            )
            await conn.execute(delete(TrainingListing).where(TrainingListing.source == source))
        await engine.dispose()


_FILL = text(
    """
    INSERT INTO training_listings (listing_id, source, area, bedrooms, bathrooms, age, garage,
                                   neighbourhood, price, listed_at, content_hash, event_id)
    SELECT :source || '-' || g, :source, 30 + (g * 7919 % 4000) / 10.0, g % 6, 1 + g % 4,
           (g * 31 % 1200) / 10.0, g % 3, :source || '-hood-' || (g % 50), 100000 + g,
           now() - (g % 2000) * interval '1 day', 'h', 'e'
    FROM generate_series(1, :n) AS g
    """
)


async def test_100k_listings_are_searched_by_the_index(devstack: Any) -> None:
    engine = create_engine(devstack.database_url, command_timeout_s=300)  # the fill
    source = f"it-comp100k-{uuid.uuid4().hex[:8]}"
    try:
        async with engine.begin() as conn:
            started = time.perf_counter()
            await conn.execute(_FILL, {"source": source, "n": 100_000})
            fill_s = time.perf_counter() - started
            await conn.execute(text("ANALYZE training_listings"))
        houses = [
            HouseFeatures(
                area=40.0 + 3.7 * i,
                bedrooms=i % 5,
                bathrooms=1 + i % 3,
                age=float(i % 90),
                garage=i % 3,
                neighbourhood=f"{source}-hood-{i % 50}",
            )
            for i in range(100)
        ]
        async with engine.connect() as conn:
            for same, index in ((True, "neighbourhood_area"), (False, "area")):
                query = comparables_query(houses[0], n=10, exclude_listing_id=None, same=same)
                compiled = query.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
                plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {compiled}")))
                assert (
                    f" on ix_training_listings_{index} " in plan
                    or f" using ix_training_listings_{index} " in plan
                ), plan
                assert "Seq Scan on training_listings" not in plan, plan
            own = await _timed(conn, houses)  # 2,000 listings a neighbourhood: enough there
            elsewhere = await _timed(
                conn, [replace(h, neighbourhood=f"{source}-new") for h in houses]
            )
        assert all(c.same_neighbourhood for found in own[1] for c in found)
        assert not any(c.same_neighbourhood for found in elsewhere[1] for c in found)
        print(
            f"\ncomparables at 100,000 listings (10 each, 100 houses): in the house's "
            f"neighbourhood median {own[0][0]:.1f} ms (p95 {own[0][1]:.1f}); a neighbourhood "
            f"without listings median {elsewhere[0][0]:.1f} ms (p95 {elsewhere[0][1]:.1f}); "
            f"storing the 100,000 (with the indexes) took {fill_s:.1f} s"
        )
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(TrainingListing).where(TrainingListing.source == source))
        await engine.dispose()


async def _timed(conn: Any, houses: list[HouseFeatures]) -> tuple[tuple[float, float], list[Any]]:
    """(median, p95) in ms of one query per house, and what each returned (10 each)."""
    seconds, results = [], []
    for house in houses:
        started = time.perf_counter()
        found = await nearest_listings(conn, house, n=10)
        seconds.append(time.perf_counter() - started)
        assert len(found) == 10
        results.append(found)
    ordered = sorted(seconds)
    return (statistics.median(seconds) * 1000, ordered[int(0.95 * len(ordered))] * 1000), results
