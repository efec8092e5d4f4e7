"""What the entrypoints need from the rest of the gateway, as Protocols (real objects and
test fakes both satisfy them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from valora_contracts import ListingFeatures, PredictionInput, PredictionResult
from valora_db.read_models.comparables import Comparable
from valora_db.read_models.predictions import StoredPrediction

from valora_gateway.domain.champion import ChampionInfo
from valora_gateway.domain.jobs import JobProgress, JobResult, JobRow

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
        self, *, job_id: str, filename: str | None, input_format: str, rows: Sequence[JobRow]
    ) -> None: ...

    async def progress(self, job_id: str) -> JobProgress | None: ...

    def iter_results(self, job_id: str) -> AsyncIterator[list[JobResult]]: ...


class JobQueue(Protocol):
    """Batch jobs as the runner sees them."""

    async def claim_jobs(self, *, owner: str, lease_s: float) -> list[str]: ...

    async def progress(self, job_id: str) -> JobProgress | None: ...

    async def set_status(self, job_id: str, status: str) -> None: ...

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
