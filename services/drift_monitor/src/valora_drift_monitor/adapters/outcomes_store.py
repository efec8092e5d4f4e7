"""PostgreSQL outcome store: predictions joined to realised prices, whichever arrives first.

Predictions and sales are both kept (keyed by listing id), so the join happens when the second
of the pair is consumed, on any replica, after any restart. A sale joins a prediction made at or
before the sale; a later validated listing's price joins a prediction made before that listing
(its asking price is then the best label there is), and never replaces a sale. Each statement
takes a whole batch through ``unnest`` arrays: one round trip per batch, not per record.

Idempotent: a prediction is one row per (model, listing), a sale one per listing, an outcome one
per (model, version, listing). Consuming a sale or a listing price again changes nothing, a
prediction again at most moves its ``predicted_at`` forward, and none of them reports a version
with new outcomes (so nothing is judged twice). The statements
(:mod:`.outcomes_sql`) are built from the tables in :mod:`valora_db.tables.drift_monitor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_db import session_scope

from valora_drift_monitor.adapters.outcomes_sql import (
    JOIN_LISTINGS,
    JOIN_SALES,
    PERFORMANCE,
    PRUNE,
    UPSERT_PREDICTIONS,
    UPSERT_SALES,
)
from valora_drift_monitor.domain.ports import LabelRow, PredictionRow, SegmentPerformance
from valora_drift_monitor.errors import DriftStoreError

__all__ = ["PgOutcomeStore"]


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
        "listing_id": [r.listing_id for r in rows],
        "price": [r.price for r in rows],
        "observed_at": [r.observed_at for r in rows],
    }


class PgOutcomeStore:
    """:class:`~valora_drift_monitor.domain.ports.OutcomeStore` on PostgreSQL."""

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
                        UPSERT_PREDICTIONS,
                        {
                            "model_name": model_name,
                            "listing_id": ids,
                            "model_version": [r.model_version for r in batch],
                            "predicted_price": [r.predicted_price for r in batch],
                            "neighbourhood": [r.neighbourhood for r in batch],
                            "predicted_at": [r.predicted_at for r in batch],
                        },
                    )
                    joined = await session.execute(
                        JOIN_SALES, {"model_name": model_name, "listing_ids": ids}
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
                await session.execute(UPSERT_SALES, _label_params(batch))
                joined = await session.execute(
                    JOIN_SALES,
                    {"model_name": model_name, "listing_ids": [r.listing_id for r in batch]},
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
                    JOIN_LISTINGS, {"model_name": model_name, **_label_params(_latest(rows))}
                )
                return {str(v) for v in joined.scalars()}
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"listing prices not joined: {exc}") from exc

    async def performance(
        self, *, model_name: str, model_version: str, size: int, since: datetime, segments: bool
    ) -> list[SegmentPerformance]:
        params = {
            "model_name": model_name,
            "model_version": model_version,
            "since": since,
            "size": size,
            "scan": size * 20,
        }
        try:
            async with session_scope(self._factory) as session:
                rows = (await session.execute(PERFORMANCE[segments], params)).all()
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
                for statement in PRUNE:
                    result = await session.execute(statement, {"before": before})
                    deleted += int(getattr(result, "rowcount", 0) or 0)
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"prune failed: {exc}") from exc
        return deleted
