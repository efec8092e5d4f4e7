"""Fakes behind the real gateway ASGI app, for API fuzzing (no tests in here).

The app is the one ``valora_gateway.entrypoints.app.create_http_app`` builds for production
(routes, middleware, error handlers, OpenAPI); only the
:class:`~valora_gateway.entrypoints.deps.Services` container is fake (each fake satisfies the
Protocol in :mod:`valora_gateway.entrypoints.ports`). The fakes behave like the real ones where
it matters to the HTTP contract: predictions are stored and can be read back, batch jobs keep
their rows and stream results, the champion exists, readiness is green. They never fail by
themselves, so any 5xx is the gateway's.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from valora_contracts import (
    LISTINGS_RAW,
    ListingFeatures,
    PredictionInterval,
    PredictionResult,
    new_id,
)
from valora_db.read_models.comparables import Comparable
from valora_db.read_models.predictions import StoredPrediction
from valora_gateway.domain.champion import ChampionInfo
from valora_gateway.domain.jobs import JobCounts, JobProgress, JobResult, JobRow
from valora_gateway.domain.uploads import UploadFormat, upload_rows
from valora_gateway.entrypoints.app import create_http_app
from valora_gateway.entrypoints.deps import Services
from valora_gateway.settings import GatewaySettings
from valora_observability import ServiceMetrics

__all__ = ["FakeWorld", "build_fake_gateway"]

MODEL_NAME = "valora-price"
MODEL_VERSION = "7"
RUN_ID = "run-fuzz"


def _price(f: ListingFeatures) -> float:
    # Finite for every valid input (area may be anything > 0 up to 1.8e308).
    return 50_000.0 + 10_000.0 * math.log1p(f.area) + 5_000.0 * f.bedrooms


@dataclass
class FakeWorld:
    """What the fakes remember: stored predictions, batch jobs, published listings."""

    predictions: dict[str, StoredPrediction] = field(default_factory=dict)
    jobs: dict[str, tuple[JobProgress, list[JobRow]]] = field(default_factory=dict)
    published: int = 0

    def store(self, features: ListingFeatures, source: str, input_id: str) -> PredictionResult:
        price = _price(features)
        result = PredictionResult(
            prediction_id=new_id(),
            input_id=input_id,
            price=price,
            interval=PredictionInterval(lower_bound=price * 0.9, upper_bound=price * 1.1),
            model_name=MODEL_NAME,
            model_version=MODEL_VERSION,
            run_id=RUN_ID,
            warnings=[] if features.neighbourhood == "Zona Sul" else ["unknown neighbourhood"],
        )
        if len(self.predictions) < 10_000:  # bounded memory over long fuzz runs
            self.predictions[result.prediction_id] = StoredPrediction(
                prediction_id=result.prediction_id,
                source=source,
                input_id=input_id,
                listing_id=None,
                batch_job_id=None,
                correlation_id=None,
                features=features.model_dump(mode="json"),
                price=price,
                lower_bound=result.interval.lower_bound,
                upper_bound=result.interval.upper_bound,
                interval_level=result.interval.level,
                model_name=MODEL_NAME,
                model_version=MODEL_VERSION,
                run_id=RUN_ID,
                warnings=list(result.warnings),
                input_hash="h",
                trace_id="t",
                latency_ms=1.0,
                created_at=datetime.now(UTC),
            )
        return result


class FakeClient:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def predict_one(self, features: ListingFeatures, **_: Any) -> PredictionResult:
        return self.world.store(features, "sync", new_id())

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        return [self.world.store(h, "sync", new_id()) for h in houses]


class FakePredictions:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def get(self, prediction_id: str) -> StoredPrediction | None:
        return self.world.predictions.get(prediction_id)


class FakeJobs:
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def create_job(
        self,
        *,
        job_id: str,
        filename: str | None,
        input_format: UploadFormat,
        path: Path,
        max_rows: int,
    ) -> JobCounts:
        rows = list(upload_rows(path, fmt=input_format, job_id=job_id, max_rows=max_rows))
        invalid = sum(1 for r in rows if r.error is not None)
        done = invalid == len(rows)
        now = datetime.now(UTC)
        progress = JobProgress(
            job_id=job_id,
            status="completed" if done else "pending",
            filename=filename,
            total_rows=len(rows),
            invalid_rows=invalid,
            predicted_rows=0,
            created_at=now,
            completed_at=now if done else None,
            error=None,
        )
        if len(self.world.jobs) < 1_000:
            self.world.jobs[job_id] = (progress, list(rows))
        return JobCounts(len(rows), invalid)

    async def progress(self, job_id: str) -> JobProgress | None:
        found = self.world.jobs.get(job_id)
        return found[0] if found else None

    async def iter_results(self, job_id: str) -> AsyncIterator[list[JobResult]]:
        found = self.world.jobs.get(job_id)
        rows = found[1] if found else []
        for start in range(0, len(rows), 5000):
            yield [
                JobResult(r.row_index, r.listing_id, r.features, r.error)
                for r in rows[start : start + 5000]
            ]


class FakeListings:
    topic = LISTINGS_RAW.name

    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    async def publish(self, records: list[dict[str, Any]]) -> int:
        self.world.published += len(records)
        return len(records)


class FakeComparables:
    """Comparable sales: a few near copies of the house (the store itself is not fuzzed)."""

    async def nearest(
        self, house: ListingFeatures, *, n: int, exclude_listing_id: str | None = None
    ) -> list[Comparable]:
        return [
            Comparable(
                listing_id=f"c{i}",
                neighbourhood=house.neighbourhood,
                area=house.area,
                bedrooms=house.bedrooms,
                bathrooms=house.bathrooms,
                age=house.age,
                garage=house.garage,
                price=_price(house),
                price_kind="listing",
                priced_at=None,
                same_neighbourhood=True,
                distance=0.0,
            )
            for i in range(min(n, 3))
        ]


class FakeChampion:
    async def get(self) -> ChampionInfo | None:
        return ChampionInfo(
            MODEL_NAME, MODEL_VERSION, RUN_ID, created_at_ms=1_700_000_000_000,
            metrics={"rmse": 1.0},
        )  # fmt: skip


def build_fake_gateway(**settings: Any) -> tuple[Any, FakeWorld]:
    """The real gateway app over fakes; returns (app, world)."""
    world = FakeWorld()

    async def ok() -> bool:
        return True

    services = Services(
        client=FakeClient(world),
        jobs=FakeJobs(world),
        predictions=FakePredictions(world),
        champion=FakeChampion(),
        listings=FakeListings(world),
        runner=None,
        ready_checks={"kafka": ok, "postgres": ok},
        comparables=FakeComparables(),
    )
    app = create_http_app(
        services=services, settings=GatewaySettings(**settings), metrics=ServiceMetrics("gateway")
    )
    return app, world
