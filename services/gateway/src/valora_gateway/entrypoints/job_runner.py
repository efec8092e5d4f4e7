"""Drives batch jobs to completion: the background entrypoint of the gateway.

The job and every row are stored before ``202`` is answered. A runner (any gateway instance
holding the job's lease) sends the rows as ``source="batch"`` requests in chunks; completion is
read from the stored predictions. If they stop growing (the predictor died, a request was
lost), the rows still without a prediction are sent again: the predictor stores
``(batch, <job>:<row>)`` once, so re-sending never duplicates. Every sending is counted on the
job (``attempts``, shared by every gateway); after ``max_attempts`` sendings without completion
the job fails with status ``failed`` and says how many rows were never predicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from valora_contracts import ListingFeatures, PredictionInput
from valora_messaging.request_reply import RequestReplyError

from valora_gateway.domain.jobs import JobProgress
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
        max_attempts: int = 5,
    ) -> None:
        self._jobs = jobs
        self._client = client
        self._owner = owner
        self._chunk = chunk_rows
        self._poll = poll_s
        self._stall = stall_s
        self._lease = lease_s
        self._max_attempts = max_attempts
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
        if progress is None or progress.status in ("completed", "failed"):
            self._watch.pop(job_id, None)
            return
        now = time.monotonic()
        watch = self._watch.get(job_id)
        if watch is not None and progress.predicted_rows > watch.predicted:
            self._watch[job_id] = _Watch(progress.predicted_rows, now)
            return
        if watch is not None and now - watch.since < self._stall:
            return
        attempt = await self._jobs.record_attempt(job_id)
        if attempt > self._max_attempts:
            await self._give_up(progress)
            return
        sent = await self._send_missing(job_id)
        if watch is None:
            await self._jobs.set_status(job_id, "running")
            logger.info("batch job dispatched", extra={"job_id": job_id, "rows": sent})
        else:
            logger.warning(
                "batch job stalled: rows re-sent",
                extra={"job_id": job_id, "rows": sent, "attempt": attempt},
            )
        self._watch[job_id] = _Watch(progress.predicted_rows, now)

    async def _give_up(self, progress: JobProgress) -> None:
        missing = progress.valid_rows - progress.predicted_rows
        reason = (
            f"gave up after {self._max_attempts} attempts: {missing} of {progress.valid_rows} "
            "valid rows were never predicted (is the predictor serving a model?)"
        )
        await self._jobs.fail(progress.job_id, reason)
        self._watch.pop(progress.job_id, None)
        logger.error("batch job failed", extra={"job_id": progress.job_id, "error": reason})

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
