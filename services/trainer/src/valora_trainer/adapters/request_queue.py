"""Durable training requests (table ``training_requests``) and the per-model advisory lock.

The consumer records a request and acks; the runner claims every runnable request of a model
while holding that model's PostgreSQL advisory lock, so one training per model runs at a time
and requests that arrived meanwhile are coalesced into one follow-up run. A request left
``running`` by a crashed trainer is claimed again (its lock died with its connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from valora_contracts import TrainingRequested
from valora_db import session_scope
from valora_db.tables.trainer import TrainingRequestRow

from valora_trainer.domain.search import SearchProgress

__all__ = [
    "ClaimedRequest",
    "RequestProgress",
    "claim_requests",
    "enqueue_request",
    "finish_requests",
    "get_request",
    "has_open_request",
    "models_with_work",
    "release_requests",
    "try_lock_model",
    "unlock_model",
    "update_requests",
]

_LOCK_KEY = "valora-trainer:"


@dataclass(frozen=True)
class ClaimedRequest:
    request_id: str
    model_name: str
    reason: str
    trials: int | None
    attempts: int
    trace_id: str
    promotion: str | None = None


async def enqueue_request(session: AsyncSession, event: TrainingRequested) -> bool:
    """Record a request (idempotent by ``request_id``). True if it was new."""
    stmt = (
        insert(TrainingRequestRow)
        .values(
            request_id=event.request_id,
            model_name=event.model_name,
            reason=event.reason,
            requested_by=event.requested_by[:200],
            trials=event.trials,
            promotion=event.promotion,
            trace_id=event.trace_id,
        )
        .on_conflict_do_nothing(index_elements=[TrainingRequestRow.request_id])
        .returning(TrainingRequestRow.request_id)
    )
    return (await session.execute(stmt)).first() is not None


async def has_open_request(session: AsyncSession, model_name: str) -> bool:
    stmt = select(func.count()).where(
        TrainingRequestRow.model_name == model_name,
        TrainingRequestRow.status.in_(("pending", "running")),
    )
    return bool(await session.scalar(stmt))


def _runnable() -> Any:
    return or_(
        TrainingRequestRow.status == "running",
        (TrainingRequestRow.status == "pending")
        & (TrainingRequestRow.not_before.is_(None) | (TrainingRequestRow.not_before <= func.now())),
    )


async def models_with_work(session: AsyncSession, model_names: Sequence[str]) -> list[str]:
    stmt = (
        select(TrainingRequestRow.model_name)
        .where(TrainingRequestRow.model_name.in_(list(model_names)), _runnable())
        .distinct()
    )
    return [name for (name,) in (await session.execute(stmt)).all()]


def _lock_id(model_name: str) -> Any:
    """The 64-bit advisory lock key of ``model_name``, computed by PostgreSQL."""
    return func.hashtextextended(_LOCK_KEY + model_name, 0)


async def try_lock_model(conn: AsyncConnection, model_name: str) -> bool:
    """Session-level advisory lock of ``model_name`` on ``conn`` (released if it dies)."""
    return bool(await conn.scalar(select(func.pg_try_advisory_lock(_lock_id(model_name)))))


async def unlock_model(conn: AsyncConnection, model_name: str) -> None:
    await conn.execute(select(func.pg_advisory_unlock(_lock_id(model_name))))


async def claim_requests(
    session: AsyncSession, model_name: str, *, max_attempts: int
) -> list[ClaimedRequest]:
    """Mark every runnable request of the model ``running`` (call only under its lock).

    Requests that already used ``max_attempts`` are marked failed instead.
    """
    await session.execute(
        update(TrainingRequestRow)
        .where(
            TrainingRequestRow.model_name == model_name,
            _runnable(),
            TrainingRequestRow.attempts >= max_attempts,
        )
        .values(
            status="failed",
            finished_at=func.now(),
            error=func.coalesce(TrainingRequestRow.error, "")
            + f" [gave up after {max_attempts} attempts]",
        )
    )
    stmt = (
        update(TrainingRequestRow)
        .where(TrainingRequestRow.model_name == model_name, _runnable())
        .values(
            status="running",
            attempts=TrainingRequestRow.attempts + 1,
            started_at=func.now(),
            stage="claimed",
            trials_done=0,
            not_before=None,
        )
        .returning(
            TrainingRequestRow.request_id,
            TrainingRequestRow.model_name,
            TrainingRequestRow.reason,
            TrainingRequestRow.trials,
            TrainingRequestRow.attempts,
            TrainingRequestRow.trace_id,
            TrainingRequestRow.promotion,
            TrainingRequestRow.created_at,
        )
    )
    rows = sorted((await session.execute(stmt)).all(), key=lambda r: r.created_at)
    return [
        ClaimedRequest(
            r.request_id, r.model_name, r.reason, r.trials, r.attempts, r.trace_id, r.promotion
        )
        for r in rows
    ]


async def update_requests(session: AsyncSession, request_ids: Sequence[str], **values: Any) -> None:
    await session.execute(
        update(TrainingRequestRow)
        .where(TrainingRequestRow.request_id.in_(list(request_ids)))
        .values(**values)
    )


async def finish_requests(
    session: AsyncSession, request_ids: Sequence[str], *, status: str, **values: Any
) -> None:
    await update_requests(session, request_ids, status=status, finished_at=func.now(), **values)


async def release_requests(
    session: AsyncSession, request_ids: Sequence[str], *, delay_s: float, error: str | None
) -> None:
    """Back to ``pending`` (retried after ``delay_s``)."""
    await update_requests(
        session,
        request_ids,
        status="pending",
        stage=None,
        error=error,
        not_before=func.now() + timedelta(seconds=delay_s),
    )


async def get_request(session: AsyncSession, request_id: str) -> TrainingRequestRow | None:
    return await session.get(TrainingRequestRow, request_id, populate_existing=True)


class RequestProgress:
    """Writes a run's progress (stage, MLflow run id, trials) to its request rows from the run's
    thread: each write is scheduled on ``loop`` and not awaited (progress is best effort)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        request_ids: Sequence[str],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sessions = sessions
        self._ids = list(request_ids)
        self._loop = loop

    def stage(self, stage: str) -> None:
        self._update(stage=stage)

    def run(self, run_id: str) -> None:
        self._update(run_id=run_id)

    def search(self, progress: SearchProgress) -> None:
        self._update(
            trials_done=progress.done, trials_total=progress.total, best_rmse=progress.best_value
        )

    def _update(self, **values: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._write(values), self._loop)

    async def _write(self, values: dict[str, Any]) -> None:
        async with session_scope(self._sessions) as session:
            await update_requests(session, self._ids, **values)
