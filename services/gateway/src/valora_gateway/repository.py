"""PostgreSQL reads and writes of the gateway: stored predictions and batch jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_db.predictions_store import BatchJob, BatchJobRow, Prediction

__all__ = ["JobProgress", "JobRowIn", "Repository"]

_P = cast(Table, Prediction.__table__)
_J = cast(Table, BatchJob.__table__)
_R = cast(Table, BatchJobRow.__table__)


@dataclass(frozen=True)
class JobRowIn:
    """One parsed upload row."""

    row_index: int
    input_id: str
    listing_id: str | None
    features: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    status: str
    filename: str | None
    total_rows: int
    invalid_rows: int
    predicted_rows: int
    created_at: datetime
    completed_at: datetime | None
    error: str | None

    @property
    def valid_rows(self) -> int:
        return self.total_rows - self.invalid_rows

    @property
    def done(self) -> bool:
        return self.predicted_rows >= self.valid_rows


class Repository:
    """Plain async methods over one engine."""

    def __init__(self, *, engine: AsyncEngine, insert_page: int = 2000) -> None:
        self._engine = engine
        self._page = insert_page

    async def ping(self) -> bool:
        async with self._engine.connect() as conn:
            await conn.execute(select(1))
        return True

    async def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(_P).where(_P.c.prediction_id == prediction_id)))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    async def create_job(
        self,
        *,
        job_id: str,
        filename: str | None,
        input_format: str,
        rows: Sequence[JobRowIn],
    ) -> None:
        invalid = sum(1 for r in rows if r.error is not None)
        status = "completed" if invalid == len(rows) else "pending"
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(_J).values(
                    job_id=job_id,
                    status=status,
                    filename=filename,
                    input_format=input_format,
                    total_rows=len(rows),
                    invalid_rows=invalid,
                    completed_at=func.now() if status == "completed" else None,
                )
            )
            for start in range(0, len(rows), self._page):
                page = rows[start : start + self._page]
                await conn.execute(
                    insert(_R),
                    [
                        {
                            "job_id": job_id,
                            "row_index": r.row_index,
                            "input_id": r.input_id,
                            "listing_id": r.listing_id,
                            "features": r.features,
                            "error": r.error,
                        }
                        for r in page
                    ],
                )

    async def progress(self, job_id: str) -> JobProgress | None:
        """The job with its stored-prediction count; marks it completed when all are stored."""
        async with self._engine.begin() as conn:
            job = (await conn.execute(select(_J).where(_J.c.job_id == job_id))).mappings().first()
            if job is None:
                return None
            predicted = (
                await conn.execute(
                    select(func.count()).select_from(_P).where(_P.c.batch_job_id == job_id)
                )
            ).scalar_one()
            status, completed_at = job["status"], job["completed_at"]
            if status != "completed" and predicted >= job["total_rows"] - job["invalid_rows"]:
                completed_at = (
                    await conn.execute(
                        update(_J)
                        .where(_J.c.job_id == job_id)
                        .values(status="completed", completed_at=func.now(), updated_at=func.now())
                        .returning(_J.c.completed_at)
                    )
                ).scalar_one()
                status = "completed"
        return JobProgress(
            job_id=job_id,
            status=status,
            filename=job["filename"],
            total_rows=job["total_rows"],
            invalid_rows=job["invalid_rows"],
            predicted_rows=int(predicted),
            created_at=job["created_at"],
            completed_at=completed_at,
            error=job["error"],
        )

    async def claim_jobs(self, *, owner: str, lease_s: float, limit: int = 10) -> list[str]:
        """Take (or renew) the lease of unfinished jobs nobody else holds."""
        lease_until = func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s)
        async with self._engine.begin() as conn:
            free = (
                select(_J.c.job_id)
                .where(
                    _J.c.status.in_(("pending", "running")),
                    or_(
                        _J.c.lease_owner == owner,
                        _J.c.lease_expires_at.is_(None),
                        _J.c.lease_expires_at < func.now(),
                    ),
                )
                .order_by(_J.c.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            result = await conn.execute(
                update(_J)
                .where(_J.c.job_id.in_(free.scalar_subquery()))
                .values(lease_owner=owner, lease_expires_at=lease_until)
                .returning(_J.c.job_id)
            )
            return [r for (r,) in result.all()]

    async def set_status(self, job_id: str, status: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(_J)
                .where(_J.c.job_id == job_id, _J.c.status != "completed")
                .values(status=status, updated_at=func.now())
            )

    async def job_status(self, job_id: str) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(_J.c.status).where(_J.c.job_id == job_id))
            ).scalar_one_or_none()

    async def unpredicted_rows(self, job_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        """``(input_id, listing_id, features)`` of the valid rows with no stored prediction."""
        joined = _R.outerjoin(_P, and_(_P.c.source == "batch", _P.c.input_id == _R.c.input_id))
        query = (
            select(_R.c.input_id, _R.c.listing_id, _R.c.features)
            .select_from(joined)
            .where(_R.c.job_id == job_id, _R.c.error.is_(None), _P.c.prediction_id.is_(None))
            .order_by(_R.c.row_index)
        )
        async with self._engine.connect() as conn:
            return [(i, lid, f) for i, lid, f in (await conn.execute(query)).all()]

    async def iter_results(self, job_id: str, *, page: int = 5000) -> AsyncIterator[list[Any]]:
        """Pages of result rows in row order (row, listing, features, prediction, error)."""
        joined = _R.outerjoin(_P, and_(_P.c.source == "batch", _P.c.input_id == _R.c.input_id))
        last = -1
        while True:
            query = (
                select(
                    _R.c.row_index,
                    _R.c.listing_id,
                    _R.c.features,
                    _R.c.error,
                    _P.c.prediction_id,
                    _P.c.price,
                    _P.c.lower_bound,
                    _P.c.upper_bound,
                    _P.c.model_name,
                    _P.c.model_version,
                    _P.c.warnings,
                )
                .select_from(joined)
                .where(_R.c.job_id == job_id, _R.c.row_index > last)
                .order_by(_R.c.row_index)
                .limit(page)
            )
            async with self._engine.connect() as conn:
                rows = [list(r) for r in (await conn.execute(query)).all()]
            if not rows:
                return
            yield rows
            last = rows[-1][0]
