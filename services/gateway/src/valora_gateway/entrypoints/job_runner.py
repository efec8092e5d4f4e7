"""Drives batch jobs to completion: the background entrypoint of the gateway.

The job and every row are stored before ``202`` is answered. A runner (any gateway instance
holding the job's lease) sends the rows as ``source="batch"`` requests in chunks; completion is
read from the stored predictions. If they stop growing (the predictor died, a request was
lost), the rows still without a prediction are sent again: the predictor stores
``(batch, <job>:<row>)`` once, so re-sending never duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from valora_contracts import ListingFeatures, PredictionInput
from valora_messaging.request_reply import RequestReplyError

from valora_gateway.entrypoints.ports import BatchSender, JobQueue

__all__ = ["BatchJobRunner"]

logger = logging.getLogger(__name__)


@dataclass
class _Watch:
    predicted: int
    since: float


class BatchJobRunner:
    """Sends the rows of leased jobs, watches their progress, re-sends stalled rows."""

    def __init__(
        self,
        *,
        jobs: JobQueue,
        client: BatchSender,
        owner: str,
        chunk_rows: int,
        poll_s: float,
        stall_s: float,
        lease_s: float,
    ) -> None:
        self._jobs = jobs
        self._client = client
        self._owner = owner
        self._chunk = chunk_rows
        self._poll = poll_s
        self._stall = stall_s
        self._lease = lease_s
        self._watch: dict[str, _Watch] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Look at the jobs now (e.g. one was just created)."""
        self._kick.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="valora-batch-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("batch-job runner tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._poll)
            self._kick.clear()

    async def tick(self) -> None:
        for job_id in await self._jobs.claim_jobs(owner=self._owner, lease_s=self._lease):
            await self._drive(job_id)

    async def _drive(self, job_id: str) -> None:
        progress = await self._jobs.progress(job_id)
        if progress is None or progress.status == "completed":
            self._watch.pop(job_id, None)
            return
        now = time.monotonic()
        watch = self._watch.get(job_id)
        if watch is None:
            sent = await self._send_missing(job_id)
            await self._jobs.set_status(job_id, "running")
            logger.info("batch job dispatched", extra={"job_id": job_id, "rows": sent})
            self._watch[job_id] = _Watch(progress.predicted_rows, now)
        elif progress.predicted_rows > watch.predicted:
            self._watch[job_id] = _Watch(progress.predicted_rows, now)
        elif now - watch.since >= self._stall:
            sent = await self._send_missing(job_id)
            logger.warning(
                "batch job stalled: rows re-sent", extra={"job_id": job_id, "rows": sent}
            )
            self._watch[job_id] = _Watch(progress.predicted_rows, now)

    async def _send_missing(self, job_id: str) -> int:
        rows = await self._jobs.unpredicted_rows(job_id)
        for start in range(0, len(rows), self._chunk):
            items = [
                PredictionInput(
                    input_id=input_id,
                    listing_id=listing_id,
                    features=ListingFeatures.model_validate(features),
                )
                for input_id, listing_id, features in rows[start : start + self._chunk]
            ]
            try:
                await self._client.send_batch(job_id=job_id, items=items)
            except RequestReplyError as exc:
                logger.warning("batch chunk not sent", extra={"job_id": job_id, "error": exc.code})
                break
        return len(rows)
