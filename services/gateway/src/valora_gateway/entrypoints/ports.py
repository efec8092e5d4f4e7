"""What the entrypoints need from the rest of the gateway, as Protocols (real objects and
test fakes both satisfy them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from valora_contracts import ListingFeatures, PredictionInput, PredictionResult
from valora_db.read_models.comparables import Comparable
from valora_db.read_models.predictions import StoredPrediction

from valora_gateway.domain.champion import ChampionInfo
from valora_gateway.domain.jobs import JobCounts, JobProgress, JobResult
from valora_gateway.domain.uploads import UploadFormat

__all__ = [
    "BatchSender",
    "ChampionReader",
    "ComparablesReader",
    "HealthCheck",
    "JobKicker",
    "JobQueue",
    "JobStore",
    "ListingSink",
    "PredictionClient",
    "PredictionReader",
]

HealthCheck = Callable[[], Awaitable[bool]]


class PredictionClient(Protocol):
    """Values houses (:class:`valora_messaging.request_reply.RequestReplyClient`)."""

    async def predict_one(
        self, features: ListingFeatures, *, listing_id: str | None = None
    ) -> PredictionResult: ...

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]: ...


class BatchSender(Protocol):
    """Sends a batch-job chunk without waiting for its replies."""

    async def send_batch(self, *, job_id: str, items: Sequence[PredictionInput]) -> None: ...


class JobStore(Protocol):
    """Batch jobs as the HTTP routes see them."""

    async def create_job(
        self,
        *,
        job_id: str,
        filename: str | None,
        input_format: UploadFormat,
        path: Path,
        max_rows: int,
    ) -> JobCounts:
        """Read the spooled upload at ``path`` and store the job and its rows, all or nothing
        (an unreadable file raises its typed error and stores nothing)."""
        ...

    async def progress(self, job_id: str) -> JobProgress | None: ...

    def iter_results(self, job_id: str) -> AsyncIterator[list[JobResult]]: ...


class JobQueue(Protocol):
    """Batch jobs as the runner sees them."""

    async def claim_jobs(self, *, owner: str, lease_s: float) -> list[str]: ...

    async def progress(self, job_id: str) -> JobProgress | None: ...

    async def set_status(self, job_id: str, status: str) -> None: ...

    async def record_attempt(self, job_id: str) -> int:
        """Count one more sending of the job's rows; the count so far."""
        ...

    async def fail(self, job_id: str, error: str) -> None:
        """Give the job up: status ``failed`` with ``error``."""
        ...

    async def unpredicted_rows(
        self, job_id: str
    ) -> list[tuple[str, str | None, dict[str, Any]]]: ...


class JobKicker(Protocol):
    def kick(self) -> None:
        """Look at the jobs now (one was just created)."""


class PredictionReader(Protocol):
    async def get(self, prediction_id: str) -> StoredPrediction | None: ...


class ComparablesReader(Protocol):
    """Comparable sales of a house from the training store
    (:mod:`valora_db.read_models.comparables`)."""

    async def nearest(
        self, house: ListingFeatures, *, n: int, exclude_listing_id: str | None = None
    ) -> list[Comparable]: ...


class ChampionReader(Protocol):
    async def get(self) -> ChampionInfo | None: ...


class ListingSink(Protocol):
    @property
    def topic(self) -> str: ...

    async def publish(self, records: list[dict[str, Any]]) -> int: ...
