"""PostgreSQL store of shadow challengers: the latest champion/challenger pair per listing,
the pairs joined to realised sales, and one evaluation row per challenger.

Idempotent like the outcome store: a pair is one row per (model, challenger, listing), and
consuming it again at most moves its ``predicted_at`` forward. A decision is written once
(``UPDATE .. WHERE decision IS NULL``), in the same transaction as its ``models.verdict.v1``
event in the outbox: a verdict is published at least once and decided at most once, whichever
replica sees the deciding sale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import Float, String, Table, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_db import session_scope
from valora_db.tables.drift_monitor import (
    DriftOutboxRow,
    DriftSale,
    DriftShadowEvaluation,
    DriftShadowPair,
)

from valora_drift_monitor.adapters.outcomes_sql import _TIME, _unnest
from valora_drift_monitor.domain.ports import OutboxEntry
from valora_drift_monitor.domain.shadow import OpenEvaluation, PairedSales, PairRow
from valora_drift_monitor.errors import DriftStoreError

__all__ = ["PgShadowStore"]

_PAIRS = cast(Table, DriftShadowPair.__table__)
_EVALS = cast(Table, DriftShadowEvaluation.__table__)
_SALES = cast(Table, DriftSale.__table__)
_P, _E, _S = _PAIRS.c, _EVALS.c, _SALES.c
_PRICES = (
    "champion_price",
    "champion_lower",
    "champion_upper",
    "challenger_price",
    "challenger_lower",
    "challenger_upper",
)
_NEW = _unnest(
    challenger_version=String(),
    listing_id=String(),
    champion_version=String(),
    **{name: Float() for name in _PRICES},
    predicted_at=_TIME,
)


def _upsert_pairs() -> Any:
    new = _NEW.c
    statement = insert(_PAIRS).from_select(
        ["model_name", *new.keys()], select(bindparam("model_name", type_=String()), *new)
    )
    replaced = ("champion_version", *_PRICES, "predicted_at")
    return statement.on_conflict_do_update(
        index_elements=[_P.model_name, _P.challenger_version, _P.listing_id],
        set_={name: statement.excluded[name] for name in replaced},
        where=statement.excluded.predicted_at >= _P.predicted_at,
    )


_UPSERT_PAIRS = _upsert_pairs()
_PAIRED = (
    select(_S.sale_price, *(_P[name] for name in _PRICES))
    .select_from(_PAIRS.join(_SALES, _S.listing_id == _P.listing_id))
    .where(
        _P.model_name == bindparam("model_name"),
        _P.challenger_version == bindparam("version"),
        _P.predicted_at <= _S.sold_at,
    )
    .order_by(_S.sold_at, _P.listing_id)
    .limit(bindparam("cap"))
)
"""The pairs of a challenger with a sale at or after them, oldest sale first (at most ``cap``)."""


def _evaluation(
    model_name: str, version: str, champion_version: str, at: datetime | None = None
) -> Any:
    """Start a challenger's evaluation (now, or ``at``), unless it has started already."""
    started = {} if at is None else {"started_at": at}
    return (
        insert(_EVALS)
        .values(
            model_name=model_name,
            challenger_version=version,
            champion_version=champion_version,
            **started,
        )
        .on_conflict_do_nothing()
    )


def _key(model_name: str, version: str) -> Any:
    return and_(_E.model_name == model_name, _E.challenger_version == version)


class PgShadowStore:
    """Pairs, their join to sales, and the challengers' evaluations in PostgreSQL."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory

    async def add_pairs(self, model_name: str, rows: Sequence[PairRow]) -> set[str]:
        """Store the pairs (the latest per listing and challenger); the challengers seen."""
        latest: dict[tuple[str, str], PairRow] = {}
        for row in rows:
            seen = latest.get((row.challenger_version, row.listing_id))
            if seen is None or row.predicted_at >= seen.predicted_at:
                latest[(row.challenger_version, row.listing_id)] = row
        if not latest:
            return set()
        batch = list(latest.values())
        params: dict[str, Any] = {"model_name": model_name}
        for name in ("challenger_version", "listing_id", "champion_version", *_PRICES):
            params[name] = [getattr(r, name) for r in batch]
        params["predicted_at"] = [r.predicted_at for r in batch]
        champions = {r.challenger_version: r.champion_version for r in batch}
        try:
            async with session_scope(self._factory) as session:
                await session.execute(_UPSERT_PAIRS, params)
                for version, champion in champions.items():
                    await session.execute(_evaluation(model_name, version, champion))
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"shadow pairs not stored: {exc}") from exc
        return set(champions)

    async def start(
        self, *, model_name: str, version: str, champion_version: str, at: datetime
    ) -> None:
        """A challenger announced: its evaluation starts now (kept if it already started)."""
        try:
            async with session_scope(self._factory) as session:
                await session.execute(_evaluation(model_name, version, champion_version, at))
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"evaluation not started: {exc}") from exc

    async def open_evaluations(self, model_name: str) -> list[OpenEvaluation]:
        try:
            async with session_scope(self._factory) as session:
                rows = (
                    await session.execute(
                        select(_EVALS).where(_E.model_name == model_name, _E.decision.is_(None))
                    )
                ).all()
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"evaluations not read: {exc}") from exc
        return [
            OpenEvaluation(
                r.model_name,
                r.challenger_version,
                r.champion_version,
                r.started_at,
                int((r.figures or {}).get("look") or 0),
                int(r.paired_sales),
            )
            for r in rows
        ]

    async def paired(self, *, model_name: str, version: str, cap: int) -> PairedSales:
        try:
            async with session_scope(self._factory) as session:
                rows = (
                    await session.execute(
                        _PAIRED, {"model_name": model_name, "version": version, "cap": cap}
                    )
                ).all()
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"paired sales not read: {exc}") from exc
        columns = np.asarray(rows, dtype=float).reshape(-1, 1 + len(_PRICES)).T
        return PairedSales(*columns)

    async def record(
        self, *, model_name: str, version: str, figures: dict[str, Any], paired_sales: int
    ) -> None:
        """The figures of a look (no decision)."""
        try:
            async with session_scope(self._factory) as session:
                await session.execute(
                    update(_EVALS)
                    .where(_key(model_name, version), _E.decision.is_(None))
                    .values(figures=figures, paired_sales=paired_sales, updated_at=_now())
                )
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"evaluation not recorded: {exc}") from exc

    async def decide(
        self,
        *,
        model_name: str,
        version: str,
        decision: str,
        explanation: str,
        figures: dict[str, Any] | None,
        paired_sales: int | None,
        event: OutboxEntry | None,
    ) -> bool:
        """Write the decision once, with its event in the outbox (``figures`` and
        ``paired_sales`` ``None``: keep the last look's); False: already decided."""
        looked: dict[str, Any] = {}
        if figures is not None:
            looked["figures"] = figures
        if paired_sales is not None:
            looked["paired_sales"] = paired_sales
        try:
            async with session_scope(self._factory) as session:
                decided = await session.execute(
                    update(_EVALS)
                    .where(_key(model_name, version), _E.decision.is_(None))
                    .values(
                        decision=decision,
                        explanation=explanation[:2000],
                        **looked,
                        decided_at=_now(),
                        updated_at=_now(),
                    )
                    .returning(_E.challenger_version)
                )
                if decided.first() is None:
                    return False
                if event is not None:
                    await session.execute(
                        insert(DriftOutboxRow).values(
                            event_id=event.event_id,
                            topic=event.topic,
                            key=event.key,
                            value=event.value,
                        )
                    )
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"decision not stored: {exc}") from exc
        return True


def _now() -> Any:
    return func.now()
