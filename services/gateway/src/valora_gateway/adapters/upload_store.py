"""Stores a spooled batch-job upload from a worker process, so the gateway's event loop (and its
interpreter lock) never parses or encodes the file's rows.

:func:`store_upload` runs in the worker: it reads the spooled file a row at a time
(:func:`~valora_gateway.domain.uploads.upload_rows`), and in one PostgreSQL transaction inserts
the job, streams the rows with ``COPY`` and sets the totals (nobody sees the job before its last
row; an unreadable file stores nothing and raises its typed error back to the route).
:class:`UploadWorkers` is the process pool the gateway awaits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.domain.jobs import JobCounts
from valora_gateway.domain.uploads import UploadFormat, upload_rows

__all__ = ["UploadWorkers", "store_upload"]

_COPY = "COPY batch_job_rows (job_id, row_index, input_id, listing_id, features, error) FROM STDIN"


def store_upload(
    *,
    dsn: str,
    path: Path,
    job_id: str,
    filename: str | None,
    input_format: UploadFormat,
    max_rows: int,
    check: HouseCheck | None = None,
) -> JobCounts:
    """Read, check (``check``: the data contract) and store one upload in one transaction
    (blocking: a worker process)."""
    rows = upload_rows(path, fmt=input_format, job_id=job_id, max_rows=max_rows, check=check)
    total = invalid = 0
    with (
        psycopg.connect(dsn, application_name="valora-gateway-upload") as conn,
        conn.transaction(),
    ):
        conn.execute(
            "INSERT INTO batch_jobs (job_id, status, filename, input_format, total_rows, "
            "invalid_rows) VALUES (%s, 'pending', %s, %s, 0, 0)",
            (job_id, filename, input_format),
        )
        with conn.cursor().copy(_COPY) as copy:
            for row in rows:
                features = Jsonb(row.features) if row.features is not None else None
                copy.write_row(
                    (job_id, row.row_index, row.input_id, row.listing_id, features, row.error)
                )
                total += 1
                invalid += row.error is not None
        counts = JobCounts(total, invalid)
        conn.execute(
            "UPDATE batch_jobs SET total_rows = %s, invalid_rows = %s, status = %s, "
            "completed_at = CASE WHEN %s THEN now() END WHERE job_id = %s",
            (total, invalid, counts.status, counts.status == "completed", job_id),
        )
    return counts


def _ready() -> bool:
    return True


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: a worker whose gateway died (``kill -9``: no shutdown) exits too."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="valora-upload-parent-watch", daemon=True).start()


class UploadWorkers:
    """A pool of ``size`` worker processes (spawned, not forked: the gateway runs threads);
    every upload's rows are held to ``check`` (the data contract) there."""

    def __init__(self, *, dsn: str, size: int, check: HouseCheck | None = None) -> None:
        self._dsn = dsn
        self._check = check
        self._size = size
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        """Spawn the workers now (and import what they run), not on the first upload."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self._size,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            await asyncio.get_running_loop().run_in_executor(self._pool, _ready)

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def store(
        self,
        *,
        path: Path,
        job_id: str,
        filename: str | None,
        input_format: UploadFormat,
        max_rows: int,
    ) -> JobCounts:
        if self._pool is None:
            raise RuntimeError("upload workers are not started")
        work = partial(
            store_upload,
            dsn=self._dsn,
            path=path,
            job_id=job_id,
            filename=filename,
            input_format=input_format,
            max_rows=max_rows,
            check=self._check,
        )
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)
