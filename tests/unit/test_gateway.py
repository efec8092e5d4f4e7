"""Gateway routes, errors, request-reply and micro-batching with fakes (no Kafka, no DB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from valora_contracts import (
    ListingFeatures,
    PredictionInput,
    PredictionInterval,
    PredictionReply,
    PredictionRequested,
    PredictionResult,
)
from valora_gateway.app import create_http_app
from valora_gateway.batch_jobs import detect_format, parse_upload
from valora_gateway.batcher import MicroBatcher
from valora_gateway.champion import ChampionInfo
from valora_gateway.client import results_of
from valora_gateway.deps import Services
from valora_gateway.errors import (
    BrokerUnavailableError,
    InvalidUploadError,
    NoChampionError,
    PredictorError,
    ReplyTimeoutError,
    TooManyItemsError,
)
from valora_gateway.replies import ReplyRouter
from valora_gateway.repository import JobProgress
from valora_gateway.settings import GatewaySettings
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


def _result(features: ListingFeatures, input_id: str = "i") -> PredictionResult:
    warnings = [] if features.neighbourhood == "Zona Sul" else ["unknown neighbourhood"]
    return PredictionResult(
        prediction_id=f"p-{input_id}",
        input_id=input_id,
        price=features.area * 1000,
        interval=PredictionInterval(
            lower_bound=features.area * 900, upper_bound=features.area * 1100
        ),
        model_name="m",
        model_version="7",
        run_id="r",
        warnings=warnings,
    )


@dataclass
class FakeClient:
    error: Exception | None = None
    many_calls: list[int] = field(default_factory=list)

    async def predict_one(self, features: ListingFeatures, **_: Any) -> PredictionResult:
        if self.error:
            raise self.error
        return _result(features)

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        self.many_calls.append(len(houses))
        return [_result(h, str(i)) for i, h in enumerate(houses)]


@dataclass
class FakeRepo:
    jobs: dict[str, Any] = field(default_factory=dict)

    async def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        return None

    async def create_job(self, *, job_id: str, filename: Any, input_format: str, rows: Any) -> None:
        self.jobs[job_id] = rows

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


class FakeChampion:
    def __init__(self, info: ChampionInfo | None) -> None:
        self.info = info

    async def get(self) -> ChampionInfo | None:
        return self.info


def _app(client: FakeClient | None = None, **settings: Any) -> tuple[Any, list[Any]]:
    published: list[Any] = []

    async def publish_listings(records: list[dict[str, Any]]) -> int:
        published.extend(records)
        return len(records)

    async def ok() -> bool:
        return True

    services = Services(
        client=client or FakeClient(),  # type: ignore[arg-type]
        repo=FakeRepo(),  # type: ignore[arg-type]
        champion=FakeChampion(ChampionInfo("m", "7", "r")),  # type: ignore[arg-type]
        publish_listings=publish_listings,
        runner=None,
        ready_checks={"kafka": ok},
        batch_max_items=settings.pop("batch_max_items", 1000),
        batch_job_max_rows=100,
        listings_topic="listings.raw.v1",
    )
    app = create_http_app(
        services=services,
        settings=GatewaySettings(**settings),
        metrics=ServiceMetrics("gateway"),
    )
    return app, published


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app, _ = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_seed_body_is_answered_in_the_seed_shape(http: httpx.AsyncClient) -> None:
    r = await http.post("/predict", json=SEED)
    assert r.status_code == 200
    body = r.json()
    assert body["predicted_price"] == pytest.approx(120_500.0)
    assert set(body["confidence_interval"]) >= {"lower_bound", "upper_bound"}
    assert body["model_version"] == "7"
    assert body["prediction_id"] == "p-i"
    assert body["warnings"] == []


async def test_english_names_and_unknown_neighbourhood_warning(http: httpx.AsyncClient) -> None:
    english = {
        "area": 80, "bedrooms": 2, "bathrooms": 1, "age": 3, "garage": 0, "neighbourhood": "Mars",
    }  # fmt: skip
    r = await http.post("/predict", json=english)
    assert r.status_code == 200
    assert r.json()["warnings"] == ["unknown neighbourhood"]


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
    app, _ = _app(client, batch_max_items=5)
    async with _client(app) as http:
        ok = await http.post("/predict/batch", json={"houses": [SEED] * 5})
        assert ok.status_code == 200
        assert ok.json()["count"] == 5
        assert client.many_calls == [5]
        r = await http.post("/predict/batch", json={"houses": [SEED] * 6})
    assert r.status_code == 413
    assert r.json()["error"] == "too_many_items"
    assert "batch-jobs" in r.json()["message"]


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
        (NoChampionError("no champion"), 503, "no_champion"),
        (BrokerUnavailableError("down"), 503, "broker_unavailable"),
        (PredictorError("boom"), 502, "predictor_error"),
    ],
)
async def test_errors_map_to_status_and_json(error: Exception, status: int, code: str) -> None:
    app, _ = _app(FakeClient(error=error))
    async with _client(app) as http:
        r = await http.post("/predict", json=SEED)
    assert r.status_code == status
    assert r.json()["error"] == code
    assert r.json()["message"]


async def test_api_key_guards_write_endpoints_only() -> None:
    app, published = _app(gateway_api_key=SecretStr("s3cret"))
    async with _client(app) as http:
        assert (await http.post("/listings", json=SEED)).status_code == 401
        r = await http.post("/listings", json=[SEED, SEED], headers={"X-API-Key": "s3cret"})
        assert r.status_code == 202
        assert r.json()["accepted"] == 2
        assert (await http.post("/batch-jobs", content=b"area\n1\n")).status_code == 401
        assert (await http.post("/predict", json=SEED)).status_code == 200  # seed clients
    assert len(published) == 2


async def test_batch_job_upload_is_accepted(http: httpx.AsyncClient) -> None:
    csv = b"area,quartos,banheiros,idade,garagem,bairro\n100,2,1,5,1,Centro\n-1,2,1,5,1,Centro\n"
    r = await http.post("/batch-jobs", files={"file": ("h.csv", csv, "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["total_rows"] == 2
    assert body["invalid_rows"] == 1
    status = await http.get(body["status_url"])
    assert status.json()["valid_rows"] == 1
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
    assert (await http.get("/models/champion")).json()["model_version"] == "7"
    assert (await http.get("/health/live")).status_code == 200
    assert (await http.get("/health/ready")).json()["status"] == "ok"
    await http.post("/predict", json=SEED)
    metrics = (await http.get("/metrics/")).text
    assert 'valora_http_requests_total{method="POST",route="/predict"' in metrics


async def test_reply_router_matches_replies_and_times_out() -> None:
    sent: list[tuple[str, bytes]] = []
    router: ReplyRouter

    async def publish(topic: str, value: bytes, key: bytes) -> None:
        sent.append((topic, value))
        event = PredictionRequested.model_validate_json(value)
        reply = PredictionReply(correlation_id=event.correlation_id, error="no champion yet")
        asyncio.get_running_loop().call_soon(router.on_reply, reply.model_dump_json().encode())

    router = ReplyRouter(publish=publish, requests_topic="req", reply_topic="rep")
    features = ListingFeatures.model_validate(SEED)
    event = PredictionRequested(reply_to="rep", items=[PredictionInput(features=features)])
    reply = await router.request(event, timeout_s=1.0)
    assert reply.error == "no champion yet"
    assert sent[0][0] == "req"
    assert router.in_flight == 0
    assert not router.on_reply(b'{"correlation_id": "unknown"}')
    assert not router.on_reply(b"not json")

    async def silent(topic: str, value: bytes, key: bytes) -> None:
        return None

    quiet = ReplyRouter(publish=silent, requests_topic="req", reply_topic="rep")
    with pytest.raises(ReplyTimeoutError):
        await quiet.request(event, timeout_s=0.05)
    assert quiet.in_flight == 0


async def test_failed_delivery_fails_the_request() -> None:
    async def publish(topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(RuntimeError("broker down"))
        return future

    router = ReplyRouter(publish=publish, requests_topic="req", reply_topic="rep")
    event = PredictionRequested(
        reply_to="rep", items=[PredictionInput(features=ListingFeatures.model_validate(SEED))]
    )
    with pytest.raises(BrokerUnavailableError):
        await router.request(event, timeout_s=1.0)


async def test_micro_batcher_coalesces_concurrent_calls() -> None:
    batches: list[int] = []

    async def send(items: Sequence[PredictionInput]) -> list[PredictionResult]:
        batches.append(len(items))
        await asyncio.sleep(0.01)
        return [_result(i.features, i.input_id) for i in items]

    batcher = MicroBatcher(send=send, max_items=100, max_inflight=1)
    await batcher.start()
    try:
        features = ListingFeatures.model_validate(SEED)
        items = [PredictionInput(features=features) for _ in range(50)]
        results = await asyncio.gather(*(batcher.submit(i) for i in items))
    finally:
        await batcher.stop()
    assert [r.input_id for r in results] == [i.input_id for i in items]
    assert sum(batches) == 50
    assert len(batches) <= 3


async def test_micro_batcher_propagates_errors() -> None:
    async def send(items: Sequence[PredictionInput]) -> list[PredictionResult]:
        raise ReplyTimeoutError("late")

    batcher = MicroBatcher(send=send, max_items=10)
    await batcher.start()
    try:
        with pytest.raises(ReplyTimeoutError):
            await batcher.submit(PredictionInput(features=ListingFeatures.model_validate(SEED)))
    finally:
        await batcher.stop()


def test_results_of_maps_reply_errors() -> None:
    with pytest.raises(NoChampionError):
        results_of(PredictionReply(correlation_id="c", error="none", error_code="no_champion"), 1)
    with pytest.raises(NoChampionError):  # a predictor older than error_code: the text decides
        results_of(PredictionReply(correlation_id="c", error="no champion model is served"), 1)
    with pytest.raises(PredictorError) as failed:
        results_of(
            PredictionReply(
                correlation_id="c", error="no champion: x", error_code="prediction_failed"
            ),
            1,
        )
    assert not isinstance(failed.value, NoChampionError)
    with pytest.raises(PredictorError):
        results_of(PredictionReply(correlation_id="c", error="prediction failed: x"), 1)
    with pytest.raises(PredictorError):
        results_of(PredictionReply(correlation_id="c"), 1)


def test_parse_upload_csv_and_jsonl() -> None:
    csv = b"listing_id,area,quartos,banheiros,idade,garagem,bairro,preco\nA,100,2,1,5,1,Centro,9\n"
    csv += b"B,100,two,1,5,1,Centro,9\n"
    rows = parse_upload(csv, fmt="csv", job_id="j", max_rows=10)
    assert rows[0].features is not None
    assert rows[0].features["bedrooms"] == 2
    assert rows[0].listing_id == "A"
    assert rows[0].input_id == "j:0"
    assert rows[1].error is not None
    assert "quartos" in rows[1].error

    lines = b"\n".join(orjson.dumps({**SEED, "area": 50 + i}) for i in range(3)) + b"\n[1]\n"
    rows = parse_upload(lines, fmt="jsonl", job_id="j", max_rows=10)
    assert [r.error is None for r in rows] == [True, True, True, False]
    with pytest.raises(TooManyItemsError):
        parse_upload(lines, fmt="jsonl", job_id="j", max_rows=2)
    with pytest.raises(InvalidUploadError):
        parse_upload(b"", fmt="csv", job_id="j", max_rows=2)
    assert detect_format("x.JSONL", None) == "jsonl"
    assert detect_format(None, "text/csv") == "csv"
    with pytest.raises(InvalidUploadError):
        detect_format("x.parquet", "application/octet-stream")


async def test_predict_many_splits_large_batches_and_keeps_order() -> None:
    from valora_gateway.client import REQUEST_ITEMS, PredictionClient

    sizes: list[int] = []

    class Router:
        reply_topic = "rep"

        async def request(self, event: PredictionRequested, *, timeout_s: float) -> PredictionReply:
            sizes.append(len(event.items))
            results = [_result(i.features, i.input_id) for i in reversed(event.items)]
            return PredictionReply(correlation_id=event.correlation_id, results=results)

    client = PredictionClient(router=Router(), timeout_s=1.0, max_items=10, window_s=0.0)  # type: ignore[arg-type]
    houses = [ListingFeatures.model_validate({**SEED, "area": 10 + i}) for i in range(1200)]
    results = await client.predict_many(houses)
    assert sizes == [REQUEST_ITEMS, REQUEST_ITEMS, 200]
    assert [r.price for r in results] == [h.area * 1000 for h in houses]
