"""Batch-job uploads stored by the gateway's upload worker process into real PostgreSQL: the
rows of a spooled file arrive with their counts in one transaction; an unreadable or too long
file raises its typed error across the process boundary and stores nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_db import create_engine, libpq_dsn
from valora_db.tables.gateway import batch_job_rows, batch_jobs
from valora_gateway.adapters.upload_store import UploadWorkers
from valora_gateway.errors import InvalidUploadError, TooManyItemsError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CSV = (
    b"listing_id,area,quartos,banheiros,idade,garagem,bairro\n"
    b"A,100,2,1,5,1,Centro\nB,-1,2,1,5,1,Centro\n"
)
TOO_LONG = CSV + b"C,100,2,1,5,1,Centro\n" * 10


@pytest.fixture
async def engine(devstack: Any) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(devstack.database_url, pool_size=1)
    yield eng
    await eng.dispose()


@pytest.fixture
async def workers(devstack: Any) -> AsyncIterator[UploadWorkers]:
    pool = UploadWorkers(dsn=libpq_dsn(devstack.database_url), size=1)
    await pool.start()
    yield pool
    await pool.stop()


async def _job(engine: AsyncEngine, job_id: str) -> tuple[Any, list[Any]]:
    async with engine.connect() as conn:
        job = (await conn.execute(select(batch_jobs).where(batch_jobs.c.job_id == job_id))).first()
        rows = (
            await conn.execute(
                select(batch_job_rows)
                .where(batch_job_rows.c.job_id == job_id)
                .order_by(batch_job_rows.c.row_index)
            )
        ).all()
    return job, list(rows)


async def test_a_spooled_upload_is_stored_by_the_worker(
    workers: UploadWorkers, engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(CSV)
    job_id = uuid.uuid4().hex
    counts = await workers.store(
        path=path, job_id=job_id, filename="h.csv", input_format="csv", max_rows=10
    )
    assert (counts.total, counts.invalid, counts.status) == (2, 1, "pending")
    job, rows = await _job(engine, job_id)
    assert (job.status, job.total_rows, job.invalid_rows, job.filename) == (
        "pending",
        2,
        1,
        "h.csv",
    )
    assert [(r.row_index, r.input_id, r.listing_id) for r in rows] == [
        (0, f"{job_id}:0", "A"),
        (1, f"{job_id}:1", "B"),
    ]
    assert rows[0].features["area"] == 100
    assert rows[0].error is None
    assert rows[1].features is None
    assert "area" in rows[1].error


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"area\n\xff\xfe\n", InvalidUploadError),
        (CSV + CSV.split(b"\n", 1)[1] * 5, TooManyItemsError),
    ],
)
async def test_a_bad_upload_raises_its_error_and_stores_nothing(
    workers: UploadWorkers, engine: AsyncEngine, tmp_path: Path, data: bytes, error: type
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    job_id = uuid.uuid4().hex
    with pytest.raises(error):
        await workers.store(
            path=path, job_id=job_id, filename=None, input_format="csv", max_rows=10
        )
    job, rows = await _job(engine, job_id)
    assert job is None
    assert rows == []
