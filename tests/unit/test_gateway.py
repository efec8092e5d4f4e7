"""Gateway HTTP routes, errors and wiring over fakes (no Kafka, no database).

The fakes satisfy the Protocols of ``valora_gateway.entrypoints.ports``; request-reply itself
is tested in ``test_request_reply.py``, batch-job logic in ``test_gateway_jobs.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from valora_contracts import LISTINGS_RAW, ListingFeatures, PredictionInterval, PredictionResult
from valora_gateway.bootstrap import build_app
from valora_gateway.domain.champion import ChampionInfo
from valora_gateway.domain.jobs import JobCounts, JobProgress, JobResult, JobRow
from valora_gateway.domain.uploads import UploadFormat, upload_rows
from valora_gateway.entrypoints.app import create_http_app
from valora_gateway.entrypoints.deps import Services
from valora_gateway.entrypoints.http_errors import GATEWAY_STATUS, REPLY_ERRORS
from valora_gateway.errors import GatewayError
from valora_gateway.settings import GatewaySettings
from valora_messaging.request_reply import (
    REPLY_ERROR_CODES,
    InvalidReplyError,
    RemoteError,
    ReplyTimeoutError,
    RequestNotDeliveredError,
)
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit

SEED = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}
PREDICTOR_WARNINGS = ["neighbourhood 'Mars' was not in the training data"]


def _result(features: ListingFeatures, input_id: str = "i") -> PredictionResult:
    return PredictionResult(
        prediction_id=f"p-{input_id}",
        input_id=input_id,
        listing_id="L-ignored",
        price=features.area * 1000,
        interval=PredictionInterval(
            lower_bound=features.area * 900, upper_bound=features.area * 1100, level=0.8
        ),
        model_name="m",
        model_version="7",
        run_id="r",
        warnings=PREDICTOR_WARNINGS if features.neighbourhood == "Mars" else [],
    )


@dataclass
class FakeClient:
    error: Exception | None = None
    one_calls: list[ListingFeatures] = field(default_factory=list)
    many_calls: list[int] = field(default_factory=list)

    async def predict_one(
        self, features: ListingFeatures, *, listing_id: str | None = None
    ) -> PredictionResult:
        self.one_calls.append(features)
        if self.error:
            raise self.error
        return _result(features)

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        self.many_calls.append(len(houses))
        return [_result(h, str(i)) for i, h in enumerate(houses)]


@dataclass
class FakeJobs:
    jobs: dict[str, Sequence[JobRow]] = field(default_factory=dict)

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
        self.jobs[job_id] = rows
        return JobCounts(len(rows), sum(1 for r in rows if r.error))

    async def progress(self, job_id: str) -> JobProgress | None:
        rows = self.jobs.get(job_id)
        if rows is None:
            return None
        invalid = sum(1 for r in rows if r.error)
        return JobProgress(
            job_id=job_id, status="running", filename="f.csv", total_rows=len(rows),
            invalid_rows=invalid, predicted_rows=0, created_at=datetime.now(UTC),
            completed_at=None, error=None,
        )  # fmt: skip

    async def iter_results(self, job_id: str) -> AsyncIterator[list[JobResult]]:
        yield [JobResult(r.row_index, r.listing_id, r.features, r.error) for r in self.jobs[job_id]]


class NoPredictions:
    async def get(self, prediction_id: str) -> None:
        return None


class FakeChampion:
    async def get(self) -> ChampionInfo | None:
        return ChampionInfo("m", "7", "r", created_at_ms=1_700_000_000_000)


@dataclass
class FakeListings:
    topic: str = LISTINGS_RAW.name
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, records: list[dict[str, Any]]) -> int:
        self.published.extend(records)
        return len(records)


def _app(client: FakeClient | None = None, **settings: Any) -> tuple[Any, FakeListings]:
    async def ok() -> bool:
        return True

    listings = FakeListings()
    services = Services(
        client=client or FakeClient(),
        jobs=FakeJobs(),
        predictions=NoPredictions(),
        champion=FakeChampion(),
        listings=listings,
        runner=None,
        ready_checks={"kafka": ok},
    )
    app = create_http_app(
        services=services, settings=GatewaySettings(**settings), metrics=ServiceMetrics("gateway")
    )
    return app, listings


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app, _ = _app()
    async with _client(app) as c:
        yield c


async def test_seed_body_is_answered_in_the_seed_shape() -> None:
    client = FakeClient()
    app, _ = _app(client)
    async with _client(app) as http:
        r = await http.post("/predict", json=SEED)
    assert r.status_code == 200
    assert client.one_calls == [ListingFeatures.model_validate(SEED)]
    # the JSON clients already parse: same names, same order, same values
    assert orjson.loads(r.content) == {
        "predicted_price": 120_500.0,
        "confidence_interval": {"lower_bound": 108_450.0, "upper_bound": 132_550.0, "level": 0.8},
        "model_name": "m",
        "model_version": "7",
        "prediction_id": "p-i",
        "warnings": [],
    }
    assert list(r.json()) == [
        "predicted_price", "confidence_interval", "model_name", "model_version",
        "prediction_id", "warnings",
    ]  # fmt: skip


async def test_english_names_reach_the_predictor_and_its_warnings_reach_the_client() -> None:
    client = FakeClient()
    app, _ = _app(client)
    english = {
        "area": 80, "bedrooms": 2, "bathrooms": 1, "age": 3, "garage": 0, "neighbourhood": "Mars",
    }  # fmt: skip
    async with _client(app) as http:
        r = await http.post("/predict", json=english)
    assert r.status_code == 200
    portuguese = {
        "area": 80,
        "quartos": 2,
        "banheiros": 1,
        "idade": 3,
        "garagem": 0,
        "bairro": "Mars",
    }
    assert client.one_calls == [ListingFeatures.model_validate(portuguese)]
    assert r.json()["warnings"] == PREDICTOR_WARNINGS  # passed through verbatim


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quartos": "three"}, "quartos"),
        ({"area": -1}, "area"),
        ({"banheiros": None}, "banheiros"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_422_names_the_bad_field(
    http: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    r = await http.post("/predict", json={**SEED, **change})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    assert field in [f["field"] for f in body["fields"]]
    assert field in body["message"]


async def test_nan_and_bad_json_are_422(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/predict", content=b'{"area": NaN, "quartos": 3, "banheiros": 2, "idade": 5, '
        b'"garagem": 1, "bairro": "x"}', headers={"content-type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "area"
    r = await http.post("/predict", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"


async def test_batch_is_capped_with_413() -> None:
    client = FakeClient()
    app, _ = _app(client, gateway_batch_max_items=5)
    async with _client(app) as http:
        ok = await http.post("/predict/batch", json={"houses": [SEED] * 5})
        assert ok.status_code == 200
        assert ok.json()["count"] == 5
        assert [p["prediction_id"] for p in ok.json()["predictions"]] == [
            f"p-{i}" for i in range(5)
        ]
        assert client.many_calls == [5]
        r = await http.post("/predict/batch", json={"houses": [SEED] * 6})
    assert r.status_code == 413
    assert r.json()["error"] == "too_many_items"
    assert "batch-jobs" in r.json()["message"]
    assert client.many_calls == [5]  # the oversized batch never reached the predictor


async def test_body_size_limit_is_a_json_413() -> None:
    app, _ = _app(gateway_max_body_bytes=1024)
    async with _client(app) as http:
        r = await http.post("/predict", json={**SEED, "bairro": "x" * 5000})
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ReplyTimeoutError("late"), 504, "predictor_timeout"),
        (RemoteError("none yet", code="no_champion"), 503, "no_champion"),
        (RequestNotDeliveredError("down"), 503, "broker_unavailable"),
        (RemoteError("boom", code="prediction_failed"), 502, "predictor_error"),
        (InvalidReplyError("2 of 1"), 502, "predictor_error"),
    ],
)
async def test_reply_errors_map_to_status_and_json(
    error: Exception, status: int, code: str
) -> None:
    app, _ = _app(FakeClient(error=error))
    async with _client(app) as http:
        r = await http.post("/predict", json=SEED)
    assert r.status_code == status
    assert r.json() == {"error": code, "message": str(error)}


def test_every_error_code_has_an_http_status() -> None:
    assert set(REPLY_ERRORS) == set(REPLY_ERROR_CODES)
    codes: set[str] = set()
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        codes.add(cls.code)
    assert codes - {"internal_error"} == set(GATEWAY_STATUS)


async def test_batch_job_upload_is_accepted_and_its_results_stream(http: httpx.AsyncClient) -> None:
    csv = b"area,quartos,banheiros,idade,garagem,bairro\n100,2,1,5,1,Centro\n-1,2,1,5,1,Centro\n"
    r = await http.post("/batch-jobs", files={"file": ("h.csv", csv, "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["total_rows"], body["invalid_rows"], body["status"]) == (2, 1, "pending")
    status = await http.get(body["status_url"])
    assert (status.json()["valid_rows"], status.json()["progress"]) == (1, 0.0)
    results = await http.get(body["results_url"], params={"format": "jsonl"})
    lines = [orjson.loads(line) for line in results.content.splitlines()]
    assert lines[0]["error"] == "not predicted yet"
    assert "area" in lines[1]["error"]
    assert results.headers["x-job-status"] == "running"
    assert (await http.get("/batch-jobs/nope")).status_code == 404


async def test_not_found_and_docs_offline(http: httpx.AsyncClient) -> None:
    r = await http.get("/predictions/nope")
    assert r.status_code == 404
    assert r.json()["error"] == "prediction_not_found"
    assert (await http.get("/no/such/route")).json()["error"] == "not_found"
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert (await http.get("/docs-static/swagger-ui-bundle.js")).status_code == 200
    assert (await http.get("/docs-static/swagger-ui.css")).status_code == 200
    assert (await http.get("/openapi.json")).json()["paths"]["/predict"]


async def test_champion_health_and_metrics(http: httpx.AsyncClient) -> None:
    champion = (await http.get("/models/champion")).json()
    assert champion["model_version"] == "7"
    assert champion["created_at"].startswith("2023-11-14T22:13:20")
    assert (await http.get("/health/live")).status_code == 200
    assert (await http.get("/health/ready")).json()["status"] == "ok"
    await http.post("/predict", json=SEED)
    metrics = (await http.get("/metrics/")).text
    assert 'valora_http_requests_total{method="POST",route="/predict"' in metrics


async def test_build_app_wires_without_connecting() -> None:
    class NoChampionSource:
        def champion(self, name: str) -> ChampionInfo | None:
            return None

    settings = GatewaySettings(
        gateway_instance_id="unit", kafka_bootstrap_servers="127.0.0.1:1"
    )  # nothing listens there: building must not connect
    app = build_app(settings, configure_logs=False, champion_source=NoChampionSource())
    routes = set(app.openapi()["paths"])
    assert {"/predict", "/predict/batch", "/batch-jobs", "/batch-jobs/{job_id}/results",
            "/predictions/{prediction_id}", "/models/champion", "/listings", "/health/live",
            "/health/ready"} <= routes  # fmt: skip
    async with _client(app) as http:  # no lifespan: the app answers without its broker
        ready = await http.get("/health/ready")
        metrics = await http.get("/metrics/")
    assert ready.status_code == 503
    assert ready.json()["checks"]["replies"] is False
    assert 'valora_gateway_replies_total{outcome="bad",service="gateway"} 0.0' in metrics.text


def test_domain_imports_no_io_library() -> None:
    code = (
        "import sys, valora_gateway.domain.jobs, valora_gateway.domain.uploads, "
        "valora_gateway.domain.champion, valora_gateway.domain.house_check\n"
        "bad = {'faststream', 'aiokafka', 'sqlalchemy', 'mlflow', 'fastapi', 'asyncpg'}\n"
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
