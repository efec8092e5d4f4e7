"""The trainer's training requests, as ``valora train --wait`` follows them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from valora_db.tables.trainer import TrainingRequestRow

__all__ = ["TrainingRequestStatus", "get_training_request"]

_R = TrainingRequestRow.__table__.c


@dataclass(frozen=True, slots=True)
class TrainingRequestStatus:
    """Where a training request is: status (pending, running, done, failed), the run's stage,
    search progress, and its outcome once done."""

    request_id: str
    model_name: str
    status: str
    stage: str | None
    attempts: int
    trials_done: int
    trials_total: int | None
    best_rmse: float | None
    run_id: str | None
    model_version: str | None
    gate_passed: bool | None
    error: str | None
    finished_at: datetime | None


_COLUMNS = [_R[f.name] for f in fields(TrainingRequestStatus)]


async def get_training_request(
    conn: AsyncConnection, request_id: str
) -> TrainingRequestStatus | None:
    """The request with ``request_id`` (``None``: the trainer has not recorded it yet)."""
    row = (await conn.execute(select(*_COLUMNS).where(_R.request_id == request_id))).first()
    return None if row is None else TrainingRequestStatus(**row._asdict())
