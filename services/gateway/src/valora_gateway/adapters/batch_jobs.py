"""The gateway's batch-job tables (``batch_jobs``, ``batch_job_rows``) and their progress.

Statements are built from the tables in :mod:`valora_db.tables.gateway`; the stored
predictions of a job are read through :mod:`valora_db.read_models.predictions`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_db.read_models.predictions import batch_predictions, count_batch_job_predictions
from valora_db.tables.gateway import batch_job_rows, batch_jobs

from valora_gateway.adapters.upload_store import UploadWorkers
from valora_gateway.domain.jobs import JobCounts, JobProgress, JobResult
from valora_gateway.domain.uploads import UploadFormat

__all__ = ["SqlBatchJobStore"]

_J = batch_jobs.c
_R = batch_job_rows.c
_UNFINISHED = ("pending", "running")


def _results_join() -> Any:
    """Rows of a job, each with its batch prediction when one is stored."""
    stored = batch_predictions()
    return stored, batch_job_rows.outerjoin(stored, stored.c.input_id == _R.input_id)


class SqlBatchJobStore:
    """Plain async methods over one engine."""

    def __init__(self, *, engine: AsyncEngine, uploads: UploadWorkers) -> None:
        self._engine = engine
        self._uploads = uploads

    async def create_job(
        self,
        *,
        job_id: str,
        filename: str | None,
        input_format: UploadFormat,
        path: Path,
        max_rows: int,
    ) -> JobCounts:
        """Store a spooled upload (read, checked and written by an upload worker process in
        one transaction)."""
        return await self._uploads.store(
            path=path,
            job_id=job_id,
            filename=filename,
            input_format=input_format,
            max_rows=max_rows,
        )

    async def progress(self, job_id: str) -> JobProgress | None:
        """The job with its stored-prediction count; marks it completed when all are stored."""
        async with self._engine.begin() as conn:
            job = (
                (await conn.execute(select(batch_jobs).where(_J.job_id == job_id)))
                .mappings()
                .first()
            )
            if job is None:
                return None
            predicted = await count_batch_job_predictions(conn, job_id)
            status, completed_at = job["status"], job["completed_at"]
            if status != "completed" and predicted >= job["total_rows"] - job["invalid_rows"]:
                completed_at = (
                    await conn.execute(
                        update(batch_jobs)
                        .where(_J.job_id == job_id)
                        .values(status="completed", completed_at=func.now(), updated_at=func.now())
                        .returning(_J.completed_at)
                    )
                ).scalar_one()
                status = "completed"
        return JobProgress(
            job_id=job_id,
            status=status,
            filename=job["filename"],
            total_rows=job["total_rows"],
            invalid_rows=job["invalid_rows"],
            predicted_rows=predicted,
            created_at=job["created_at"],
            completed_at=completed_at,
            error=job["error"],
        )

    async def claim_jobs(self, *, owner: str, lease_s: float, limit: int = 10) -> list[str]:
        """Take (or renew) the lease of unfinished jobs nobody else holds."""
        lease_until = func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_s)
        free = (
            select(_J.job_id)
            .where(
                _J.status.in_(_UNFINISHED),
                or_(
                    _J.lease_owner == owner,
                    _J.lease_expires_at.is_(None),
                    _J.lease_expires_at < func.now(),
                ),
            )
            .order_by(_J.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(batch_jobs)
                .where(_J.job_id.in_(free.scalar_subquery()))
                .values(lease_owner=owner, lease_expires_at=lease_until)
                .returning(_J.job_id)
            )
            return [r for (r,) in result.all()]

    async def record_attempt(self, job_id: str) -> int:
        async with self._engine.begin() as conn:
            attempts = await conn.execute(
                update(batch_jobs)
                .where(_J.job_id == job_id)
                .values(attempts=_J.attempts + 1, updated_at=func.now())
                .returning(_J.attempts)
            )
            return int(attempts.scalar_one())

    async def fail(self, job_id: str, error: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(batch_jobs)
                .where(_J.job_id == job_id, _J.status != "completed")
                .values(status="failed", error=error[:2000], updated_at=func.now())
            )

    async def set_status(self, job_id: str, status: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(batch_jobs)
                .where(_J.job_id == job_id, _J.status != "completed")
                .values(status=status, updated_at=func.now())
            )

    async def unpredicted_rows(self, job_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        """``(input_id, listing_id, features)`` of the valid rows with no stored prediction."""
        stored, joined = _results_join()
        query = (
            select(_R.input_id, _R.listing_id, _R.features)
            .select_from(joined)
            .where(_R.job_id == job_id, _R.error.is_(None), stored.c.prediction_id.is_(None))
            .order_by(_R.row_index)
        )
        async with self._engine.connect() as conn:
            return [(i, lid, f) for i, lid, f in (await conn.execute(query)).all()]

    async def iter_results(
        self, job_id: str, *, page: int = 5000
    ) -> AsyncIterator[list[JobResult]]:
        """Pages of result rows in row order."""
        stored, joined = _results_join()
        columns = [
            _R.row_index, _R.listing_id, _R.features, _R.error, stored.c.prediction_id,
            stored.c.price, stored.c.lower_bound, stored.c.upper_bound, stored.c.model_name,
            stored.c.model_version, stored.c.warnings,
        ]  # fmt: skip
        last = -1
        while True:
            query = (
                select(*columns)
                .select_from(joined)
                .where(_R.job_id == job_id, _R.row_index > last)
                .order_by(_R.row_index)
                .limit(page)
            )
            async with self._engine.connect() as conn:
                rows = [JobResult(*r) for r in (await conn.execute(query)).all()]
            if not rows:
                return
            yield rows
            last = rows[-1].row_index
