"""The training store in PostgreSQL: labelled listings, realised sales, label counters (tables
in :mod:`valora_db.tables.trainer`).

Plain async functions taking an ``AsyncSession`` (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, literal_column, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from valora_contracts import SaleObserved, ValidatedListing
from valora_db.tables.trainer import TrainingLabelCounter, TrainingListing, TrainingSale
from valora_ml.features import FEATURE_COLUMNS

__all__ = [
    "add_new_labels",
    "count_labelled",
    "listing_rows",
    "load_labelled_frame",
    "sale_rows",
    "upsert_listings",
    "upsert_sales",
]

_CHUNK = 1000


def listing_rows(
    events: Iterable[ValidatedListing], *, sources: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows to upsert: labelled listings only (from ``sources`` if given), last event per id."""
    allowed = set(sources)
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.price is None or (allowed and event.source not in allowed):
            continue
        f = event.features
        rows[event.listing_id] = {
            "listing_id": event.listing_id,
            "source": event.source,
            "area": f.area,
            "bedrooms": f.bedrooms,
            "bathrooms": f.bathrooms,
            "age": f.age,
            "garage": f.garage,
            "neighbourhood": f.neighbourhood,
            "price": event.price,
            "listed_at": event.listed_at,
            "content_hash": event.content_hash[:128],
            "event_id": event.event_id,
        }
    return list(rows.values())


def sale_rows(events: Iterable[SaleObserved]) -> list[dict[str, Any]]:
    """Rows to upsert: the latest sale per listing."""
    rows: dict[str, dict[str, Any]] = {}
    for e in events:
        current = rows.get(e.listing_id)
        if current is None or e.sold_at >= current["sold_at"]:
            rows[e.listing_id] = {
                "listing_id": e.listing_id,
                "sale_price": e.sale_price,
                "sold_at": e.sold_at,
                "event_id": e.event_id,
            }
    return list(rows.values())


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


async def upsert_listings(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert or update by ``listing_id`` (a redelivery changes nothing). Returns rows newly
    inserted (changed rows are updated but not counted as new labels)."""
    inserted = 0
    for chunk in _chunks(rows):
        base = insert(TrainingListing).values(chunk)
        changed = (TrainingListing.content_hash != base.excluded.content_hash) | (
            TrainingListing.price != base.excluded.price
        )
        stmt: Any = base.on_conflict_do_update(
            index_elements=[TrainingListing.listing_id],
            set_={
                **{c: base.excluded[c] for c in chunk[0] if c != "listing_id"},
                "updated_at": func.now(),
            },
            where=changed,
        ).returning(literal_column("(xmax = 0)").label("inserted"))
        result = await session.execute(stmt)
        inserted += sum(1 for (flag,) in result.all() if flag)
    return inserted


async def upsert_sales(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Record realised prices (newest sale wins). Returns sales of stored listings applied."""
    applied = 0
    for chunk in _chunks(rows):
        base = insert(TrainingSale).values(chunk)
        stmt = base.on_conflict_do_update(
            index_elements=[TrainingSale.listing_id],
            set_={
                "sale_price": base.excluded.sale_price,
                "sold_at": base.excluded.sold_at,
                "event_id": base.excluded.event_id,
                "updated_at": func.now(),
            },
            where=(TrainingSale.sold_at < base.excluded.sold_at)
            | (
                (TrainingSale.sold_at == base.excluded.sold_at)
                & (TrainingSale.sale_price != base.excluded.sale_price)
            ),
        ).returning(TrainingSale.listing_id)
        changed = [lid for (lid,) in (await session.execute(stmt)).all()]
        if changed:
            known = await session.scalar(
                select(func.count())
                .select_from(TrainingListing)
                .where(TrainingListing.listing_id.in_(changed))
            )
            applied += int(known or 0)
    return applied


async def add_new_labels(session: AsyncSession, *, model_name: str, count: int, every: int) -> bool:
    """Add ``count`` to the model's new-label counter; True (and the counter drops by ``every``)
    when it reached ``every``: time to request training."""
    if count <= 0 or every <= 0:
        return False
    base = insert(TrainingLabelCounter).values(model_name=model_name, new_labels=count)
    stmt = base.on_conflict_do_update(
        index_elements=[TrainingLabelCounter.model_name],
        set_={
            "new_labels": TrainingLabelCounter.new_labels + base.excluded.new_labels,
            "updated_at": func.now(),
        },
    ).returning(TrainingLabelCounter.new_labels)
    total = int((await session.execute(stmt)).scalar_one())
    if total < every:
        return False
    await session.execute(
        update(TrainingLabelCounter)
        .where(TrainingLabelCounter.model_name == model_name)
        .values(new_labels=total % every)
    )
    return True


def _source_filter(sources: Sequence[str]) -> Any:
    return TrainingListing.source.in_(list(sources)) if sources else true()


async def count_labelled(session: AsyncSession, *, sources: Sequence[str] = ()) -> int:
    stmt = select(func.count()).select_from(TrainingListing).where(_source_filter(sources))
    return int(await session.scalar(stmt) or 0)


async def load_labelled_frame(
    session: AsyncSession, *, sources: Sequence[str] = ()
) -> pd.DataFrame:
    """Every labelled listing: features, label (sale price if observed, else listing price)
    and the date that label refers to in ``listed_at`` (the sale date, else the listing date):
    what the time split orders by and a market-time model learns."""
    label = func.coalesce(TrainingSale.sale_price, TrainingListing.price).label("price")
    dated = func.coalesce(TrainingSale.sold_at, TrainingListing.listed_at).label("listed_at")
    stmt = (
        select(
            TrainingListing.listing_id,
            *(getattr(TrainingListing, c) for c in FEATURE_COLUMNS),
            label,
            dated,
            TrainingListing.source,
        )
        .outerjoin(TrainingSale, TrainingSale.listing_id == TrainingListing.listing_id)
        .where(_source_filter(sources))
        .order_by(TrainingListing.listing_id)
    )
    result = await session.execute(stmt)
    columns = ["listing_id", *FEATURE_COLUMNS, "price", "listed_at", "source"]
    frame = pd.DataFrame(result.all(), columns=columns)
    if frame.empty:
        return frame
    frame["listed_at"] = pd.to_datetime(frame["listed_at"], utc=True)
    return frame
