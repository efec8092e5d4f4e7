"""The drift monitor's evaluations of shadow challengers, as ``valora models status`` reads
them (one row per challenger: paired figures of its latest look, and its decision)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from valora_db.tables.drift_monitor import DriftShadowEvaluation

__all__ = ["ChallengerEvaluation", "challenger_evaluations"]

_E = cast(Table, DriftShadowEvaluation.__table__).c


@dataclass(frozen=True)
class ChallengerEvaluation:
    model_name: str
    challenger_version: str
    champion_version: str
    started_at: datetime
    updated_at: datetime
    paired_sales: int
    figures: dict[str, Any]
    decision: str | None
    explanation: str | None
    decided_at: datetime | None


async def challenger_evaluations(
    engine: AsyncEngine, *, model_name: str, limit: int = 10
) -> list[ChallengerEvaluation]:
    """The newest ``limit`` evaluations of ``model_name``'s challengers, newest first."""
    statement = (
        select(
            _E.model_name,
            _E.challenger_version,
            _E.champion_version,
            _E.started_at,
            _E.updated_at,
            _E.paired_sales,
            _E.figures,
            _E.decision,
            _E.explanation,
            _E.decided_at,
        )
        .where(_E.model_name == model_name)
        .order_by(_E.started_at.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [ChallengerEvaluation(**row._asdict()) for row in rows]
