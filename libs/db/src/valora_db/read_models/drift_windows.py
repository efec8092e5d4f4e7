"""The drift monitor's judged windows, as ``valora drift report`` reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from valora_db.tables.drift_monitor import DriftWindowRow

__all__ = ["JudgedWindow", "latest_judged_window"]

_WINDOWS = DriftWindowRow.__table__


@dataclass(frozen=True)
class JudgedWindow:
    """The statistics of one window the drift monitor judged (per feature: shares, PSI, test)."""

    model_name: str
    model_version: str
    kind: str
    window_start: datetime
    window_end: datetime
    size: int
    features: list[dict[str, Any]]


_LATEST = (
    select(
        _WINDOWS.c.model_name,
        _WINDOWS.c.model_version,
        _WINDOWS.c.kind,
        _WINDOWS.c.window_start,
        _WINDOWS.c.window_end,
        _WINDOWS.c.size,
        _WINDOWS.c.features,
    )
    .order_by(_WINDOWS.c.id.desc())
    .limit(1)
)


async def latest_judged_window(
    engine: AsyncEngine, *, model_name: str, kind: str
) -> JudgedWindow | None:
    """The most recently judged ``kind`` window (data or prediction) of ``model_name``."""
    statement = _LATEST.where(_WINDOWS.c.model_name == model_name, _WINDOWS.c.kind == kind)
    async with engine.connect() as conn:
        row = (await conn.execute(statement)).first()
    return None if row is None else JudgedWindow(**row._asdict())
