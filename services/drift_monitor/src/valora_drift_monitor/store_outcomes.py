"""PostgreSQL outcome store: predictions joined to realised prices, whichever arrives first.

Predictions and sales are both kept (keyed by listing id), so the join happens when the second
of the pair is consumed, on any replica, after any restart. A sale joins a prediction made at or
before the sale; a later validated listing's price joins a prediction made before that listing
(its asking price is then the best label there is), and never replaces a sale. Each statement
takes a whole batch through ``unnest`` arrays: one round trip per batch, not per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Float, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_db import session_scope

from valora_drift_monitor.errors import DriftStoreError
from valora_drift_monitor.ports import LabelRow, PredictionRow, SegmentPerformance

__all__ = ["PgOutcomeStore"]

_TEXTS = ARRAY(String)
_FLOATS = ARRAY(Float)
_TIMES = ARRAY(TIMESTAMP(timezone=True))

_OUTCOME_COLUMNS = """model_name, model_version, listing_id, neighbourhood, predicted_price,
    actual_price, abs_error, abs_pct_error, label_source, observed_at"""

_UPSERT_PREDICTIONS = text(
    """
    INSERT INTO drift_predictions
        (model_name, listing_id, model_version, predicted_price, neighbourhood, predicted_at)
    SELECT CAST(:model_name AS text), *
    FROM unnest(:ids, :versions, :prices, :neighbourhoods, :times)
    ON CONFLICT (model_name, listing_id) DO UPDATE SET
        model_version = excluded.model_version, predicted_price = excluded.predicted_price,
        neighbourhood = excluded.neighbourhood, predicted_at = excluded.predicted_at
    WHERE excluded.predicted_at >= drift_predictions.predicted_at
    """
).bindparams(
    bindparam("ids", type_=_TEXTS),
    bindparam("versions", type_=_TEXTS),
    bindparam("prices", type_=_FLOATS),
    bindparam("neighbourhoods", type_=_TEXTS),
    bindparam("times", type_=_TIMES),
)

_UPSERT_SALES = text(
    """
    INSERT INTO drift_sales (listing_id, sale_price, sold_at)
    SELECT * FROM unnest(:ids, :prices, :times)
    ON CONFLICT (listing_id) DO UPDATE SET
        sale_price = excluded.sale_price, sold_at = excluded.sold_at
    """
).bindparams(
    bindparam("ids", type_=_TEXTS),
    bindparam("prices", type_=_FLOATS),
    bindparam("times", type_=_TIMES),
)

_JOIN_SALES = text(
    f"""
    INSERT INTO drift_outcomes ({_OUTCOME_COLUMNS})
    SELECT p.model_name, p.model_version, p.listing_id, p.neighbourhood, p.predicted_price,
        s.sale_price, abs(p.predicted_price - s.sale_price),
        abs(p.predicted_price - s.sale_price) / s.sale_price, 'sale', s.sold_at
    FROM unnest(:ids) AS i(listing_id)
    JOIN drift_predictions p ON p.model_name = :model_name AND p.listing_id = i.listing_id
    JOIN drift_sales s ON s.listing_id = i.listing_id
    WHERE p.predicted_at <= s.sold_at
    ON CONFLICT (model_name, model_version, listing_id) DO UPDATE SET
        actual_price = excluded.actual_price, abs_error = excluded.abs_error,
        abs_pct_error = excluded.abs_pct_error, label_source = 'sale',
        observed_at = excluded.observed_at
    WHERE drift_outcomes.label_source <> 'sale'
        OR drift_outcomes.actual_price <> excluded.actual_price
    RETURNING model_version
    """
).bindparams(bindparam("ids", type_=_TEXTS))

_JOIN_LISTINGS = text(
    f"""
    INSERT INTO drift_outcomes ({_OUTCOME_COLUMNS})
    SELECT p.model_name, p.model_version, p.listing_id, p.neighbourhood, p.predicted_price,
        v.price, abs(p.predicted_price - v.price), abs(p.predicted_price - v.price) / v.price,
        'listing', v.observed_at
    FROM unnest(:ids, :prices, :times) AS v(listing_id, price, observed_at)
    JOIN drift_predictions p ON p.model_name = :model_name AND p.listing_id = v.listing_id
    WHERE p.predicted_at < v.observed_at
    ON CONFLICT DO NOTHING
    RETURNING model_version
    """
).bindparams(
    bindparam("ids", type_=_TEXTS),
    bindparam("prices", type_=_FLOATS),
    bindparam("times", type_=_TIMES),
)

_PERFORMANCE = text(
    """
    WITH recent AS (
        SELECT neighbourhood, abs_error, abs_pct_error, observed_at, id
        FROM drift_outcomes
        WHERE model_name = :model_name AND model_version = :version AND observed_at >= :since
        ORDER BY id DESC LIMIT :scan
    ), ranked AS (
        SELECT *, row_number() OVER (ORDER BY id DESC) AS overall_rank,
            row_number() OVER (PARTITION BY neighbourhood ORDER BY id DESC) AS segment_rank
        FROM recent
    )
    SELECT 'all' AS segment, count(*), avg(abs_error), avg(abs_pct_error),
        min(observed_at), max(observed_at)
    FROM ranked WHERE overall_rank <= :size HAVING count(*) > 0
    UNION ALL
    SELECT 'neighbourhood=' || neighbourhood, count(*), avg(abs_error), avg(abs_pct_error),
        min(observed_at), max(observed_at)
    FROM ranked WHERE :segments AND segment_rank <= :size GROUP BY neighbourhood
    """
)

_PRUNE = (
    "DELETE FROM drift_predictions WHERE predicted_at < :before",
    "DELETE FROM drift_sales WHERE sold_at < :before",
    "DELETE FROM drift_outcomes WHERE observed_at < :before",
    "DELETE FROM drift_windows WHERE created_at < :before",
)


def _latest(rows: Sequence[LabelRow]) -> list[LabelRow]:
    """One row per listing (the latest): a statement must not update a row twice."""
    latest: dict[str, LabelRow] = {}
    for row in rows:
        seen = latest.get(row.listing_id)
        if seen is None or row.observed_at >= seen.observed_at:
            latest[row.listing_id] = row
    return list(latest.values())


def _label_params(rows: Sequence[LabelRow]) -> dict[str, object]:
    return {
        "ids": [r.listing_id for r in rows],
        "prices": [r.price for r in rows],
        "times": [r.observed_at for r in rows],
    }


class PgOutcomeStore:
    """:class:`~valora_drift_monitor.ports.OutcomeStore` on PostgreSQL."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory

    async def add_predictions(self, rows: Sequence[PredictionRow]) -> set[str]:
        if not rows:
            return set()
        latest: dict[tuple[str, str], PredictionRow] = {}
        for row in rows:
            seen = latest.get((row.model_name, row.listing_id))
            if seen is None or row.predicted_at >= seen.predicted_at:
                latest[(row.model_name, row.listing_id)] = row
        versions: set[str] = set()
        by_model: dict[str, list[PredictionRow]] = {}
        for row in latest.values():
            by_model.setdefault(row.model_name, []).append(row)
        try:
            async with session_scope(self._factory) as session:
                for model_name, batch in by_model.items():
                    ids = [r.listing_id for r in batch]
                    await session.execute(
                        _UPSERT_PREDICTIONS,
                        {
                            "model_name": model_name,
                            "ids": ids,
                            "versions": [r.model_version for r in batch],
                            "prices": [r.predicted_price for r in batch],
                            "neighbourhoods": [r.neighbourhood for r in batch],
                            "times": [r.predicted_at for r in batch],
                        },
                    )
                    joined = await session.execute(
                        _JOIN_SALES, {"model_name": model_name, "ids": ids}
                    )
                    versions.update(str(v) for v in joined.scalars())
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"predictions not stored: {exc}") from exc
        return versions

    async def add_sales(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        if not rows:
            return set()
        batch = _latest(rows)
        try:
            async with session_scope(self._factory) as session:
                await session.execute(_UPSERT_SALES, _label_params(batch))
                joined = await session.execute(
                    _JOIN_SALES, {"model_name": model_name, "ids": [r.listing_id for r in batch]}
                )
                return {str(v) for v in joined.scalars()}
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"sales not stored: {exc}") from exc

    async def add_listing_prices(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        if not rows:
            return set()
        try:
            async with session_scope(self._factory) as session:
                joined = await session.execute(
                    _JOIN_LISTINGS, {"model_name": model_name, **_label_params(_latest(rows))}
                )
                return {str(v) for v in joined.scalars()}
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"listing prices not joined: {exc}") from exc

    async def performance(
        self, *, model_name: str, model_version: str, size: int, since: datetime, segments: bool
    ) -> list[SegmentPerformance]:
        params = {
            "model_name": model_name,
            "version": model_version,
            "since": since,
            "size": size,
            "scan": size * 20,
            "segments": segments,
        }
        try:
            async with session_scope(self._factory) as session:
                rows = (await session.execute(_PERFORMANCE, params)).all()
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"performance not read: {exc}") from exc
        return [
            SegmentPerformance(
                model_version=model_version,
                segment=str(r[0]),
                size=int(r[1]),
                mae=float(r[2]),
                mape=float(r[3]),
                start=r[4],
                end=r[5],
            )
            for r in rows
        ]

    async def prune(self, *, before: datetime) -> int:
        deleted = 0
        try:
            async with session_scope(self._factory) as session:
                for statement in _PRUNE:
                    result = await session.execute(text(statement), {"before": before})
                    deleted += int(getattr(result, "rowcount", 0) or 0)
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"prune failed: {exc}") from exc
        return deleted
