"""Serving against real Kafka, PostgreSQL and MLflow: predictor and gateway as subprocesses.

Each run registers its own small model (the trainer's convention: a ``PriceModel`` pyfunc with
interval metadata, alias ``champion``) under a unique name, and gives the predictor fresh
consumer groups positioned at the topics' ends. Sizes are configurable:
``VALORA_TEST_PREDICT_N`` (1,000), ``VALORA_TEST_SWAP_LOAD_S`` (10 s; 30 for the full check),
``VALORA_TEST_JOB_ROWS`` (5,000; up to 50,000).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_drift_support import group_caught_up
from test_serving_support import (
    SEED_BODY,
    RawHttpClient,
    ServiceProcess,
    ServingRun,
    new_log_dir,
    publish_promoted,
    register_model,
    set_champion,
)
from valora_db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

N_PREDICT = int(os.environ.get("VALORA_TEST_PREDICT_N", "1000"))
SWAP_LOAD_S = float(os.environ.get("VALORA_TEST_SWAP_LOAD_S", "10"))
JOB_ROWS = int(os.environ.get("VALORA_TEST_JOB_ROWS", "5000"))
HOUSE = {"area": 95.0, "bedrooms": 2, "bathrooms": 1, "age": 12.0, "garage": 1}


@dataclass
class Serving:
    run: ServingRun
    predictor: ServiceProcess
    gateway: ServiceProcess
    v1: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"


@pytest.fixture(scope="module")
def serving(devstack: Any) -> Iterator[Serving]:
    run = ServingRun(
        run_id=uuid.uuid4().hex[:10],
        bootstrap=devstack.kafka_bootstrap_servers,
        database_url=devstack.database_url,
        tracking_uri=devstack.mlflow_tracking_uri,
        log_dir=new_log_dir("valora-serving-"),
    )
    v1 = register_model(tracking_uri=run.tracking_uri, name=run.model_name, seed=1)
    set_champion(tracking_uri=run.tracking_uri, name=run.model_name, version=v1)
    asyncio.run(run.prepare_groups())
    predictor = run.predictor()
    gateway = run.gateway(VALORA_GATEWAY_JOB_STALL_S="15")
    predictor.start()
    gateway.start()
    try:
        predictor.wait_ready(180)
        gateway.wait_ready(180)
        yield Serving(run=run, predictor=predictor, gateway=gateway, v1=v1)
    finally:
        gateway.stop()
        predictor.stop()


@pytest.fixture
async def engine(devstack: Any) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(devstack.database_url, pool_size=2)
    yield eng
    await eng.dispose()


async def _predict_all(
    base_url: str, bodies: list[dict[str, Any]], *, concurrency: int
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:

        async def one(body: dict[str, Any]) -> httpx.Response:
            async with sem:
                return await client.post("/predict", json=body)

        return await asyncio.gather(*(one(b) for b in bodies))


async def test_seed_curl_body_works_unchanged(serving: Serving) -> None:
    async with httpx.AsyncClient(base_url=serving.base_url, timeout=30.0) as client:
        r = await client.post(
            "/predict", content=SEED_BODY, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["predicted_price"] > 0
        ci = body["confidence_interval"]
        assert ci["lower_bound"] <= body["predicted_price"] <= ci["upper_bound"]
        assert body["model_version"] == serving.v1
        assert body["warnings"] == []
        stored = await client.get(f"/predictions/{body['prediction_id']}")
        assert stored.status_code == 200
        assert stored.json()["features"]["neighbourhood"] == "Zona Sul"

        unknown = await client.post("/predict", json={**HOUSE, "neighbourhood": "Atlantis"})
        assert unknown.status_code == 200
        assert "Atlantis" in unknown.json()["warnings"][0]

        bad = await client.post("/predict", json={**HOUSE, "neighbourhood": "x", "area": "big"})
        assert bad.status_code == 422
        assert bad.json()["fields"][0]["field"] == "area"

        many = await client.post("/predict/batch", json={"houses": [orjson_loads(SEED_BODY)] * 3})
        assert many.status_code == 200
        assert many.json()["count"] == 3
        too_many = await client.post(
            "/predict/batch", json={"houses": [orjson_loads(SEED_BODY)] * 1001}
        )
        assert too_many.status_code == 413
        assert too_many.json()["error"] == "too_many_items"

        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "/docs-static/swagger-ui-bundle.js" in docs.text
        assert (await client.get("/docs-static/swagger-ui-bundle.js")).status_code == 200
        champion = await client.get("/models/champion")
        assert champion.json()["model_version"] == serving.v1


async def test_a_keep_alive_connection_idle_past_a_client_pool_expiry_stays_open(
    serving: Serving,
) -> None:
    """The gateway keeps idle connections longer than clients do (httpx 5 s): one closed by the
    server as a client reuses it gives that client a reset instead of an answer."""
    client = RawHttpClient("127.0.0.1", serving.gateway.port)
    try:
        assert (await client.post("/predict", SEED_BODY))[0] == 200
        await asyncio.sleep(6.0)  # uvicorn's default keep-alive is 5 s
        assert (await client.post("/predict", SEED_BODY))[0] == 200  # the same connection
    finally:
        await client.close()


def orjson_loads(raw: bytes) -> dict[str, Any]:
    import orjson

    value: dict[str, Any] = orjson.loads(raw)
    return value


async def test_thousand_predictions_each_stored_once(serving: Serving, engine: AsyncEngine) -> None:
    marker = f"N-{uuid.uuid4().hex[:8]}"
    bodies = [{**HOUSE, "area": 50.0 + i * 0.1, "neighbourhood": marker} for i in range(N_PREDICT)]
    responses = await _predict_all(serving.base_url, bodies, concurrency=32)
    failed = [r for r in responses if r.status_code != 200]
    assert not failed, failed[0].text
    answered = {r.json()["prediction_id"]: r.json()["model_version"] for r in responses}
    assert len(answered) == N_PREDICT

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT prediction_id, model_version, source FROM predictions "
                    "WHERE model_name = :m AND features->>'neighbourhood' = :n"
                ),
                {"m": serving.run.model_name, "n": marker},
            )
        ).all()
    assert len(rows) == N_PREDICT  # exactly one row per call
    stored = {pid: version for pid, version, _ in rows}
    assert stored == answered  # each row carries the version that answered
    assert {source for _, _, source in rows} == {"sync"}


async def test_promotion_under_load_has_no_failures(serving: Serving, engine: AsyncEngine) -> None:
    run = serving.run
    v2 = await asyncio.to_thread(
        register_model, tracking_uri=run.tracking_uri, name=run.model_name, seed=2, factor=1.1
    )
    results: list[tuple[float, int, str]] = []  # (sent at, status, version)
    stop_at = time.monotonic() + SWAP_LOAD_S
    promoted_at: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            sent = time.monotonic()
            r = await client.post("/predict", json={**HOUSE, "neighbourhood": "Centro"})
            results.append((sent, r.status_code, r.json().get("model_version", "")))

    async def promote() -> None:
        await asyncio.sleep(SWAP_LOAD_S / 4)
        run_id = await asyncio.to_thread(
            set_champion, tracking_uri=run.tracking_uri, name=run.model_name, version=v2
        )
        await publish_promoted(
            bootstrap=run.bootstrap, name=run.model_name, version=v2, run_id=run_id
        )
        promoted_at.append(time.monotonic())

    async with httpx.AsyncClient(base_url=serving.base_url, timeout=30.0) as client:
        await asyncio.gather(promote(), *(worker(client) for _ in range(8)))

    assert results
    assert all(status == 200 for _, status, _ in results)
    t_promoted = promoted_at[0]
    late = [v for sent, _, v in results if sent > t_promoted + 5.0]
    assert late, "load ended too soon after the promotion"
    assert set(late) == {v2}, f"answers 5 s after promotion: {sorted(set(late))}"
    first_v2 = min(sent for sent, _, v in results if v == v2)
    assert first_v2 - t_promoted < 5.0
    assert {v for _, _, v in results} <= {serving.v1, v2}


async def _job_status(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    r = await client.get(f"/batch-jobs/{job_id}")
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()
    return status


async def test_batch_job_survives_predictor_kill(serving: Serving, engine: AsyncEngine) -> None:
    lines = ["listing_id,area,quartos,banheiros,idade,garagem,bairro"]
    lines += [
        f"L{i},{60 + i % 300},{1 + i % 4},{1 + i % 3},{i % 40},{i % 2},Centro"
        for i in range(JOB_ROWS)
    ]
    lines.append("bad-row,-5,1,1,1,1,Centro")
    payload = ("\n".join(lines) + "\n").encode()
    async with httpx.AsyncClient(base_url=serving.base_url, timeout=60.0) as client:
        r = await client.post("/batch-jobs", files={"file": ("houses.csv", payload, "text/csv")})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert r.json()["total_rows"] == JOB_ROWS + 1
        assert r.json()["invalid_rows"] == 1

        deadline = time.monotonic() + 120
        while (await _job_status(client, job_id))["predicted_rows"] == 0:
            assert time.monotonic() < deadline, "the job made no progress"
            await asyncio.sleep(0.05)
        serving.predictor.kill()  # kill -9 in the middle of the job
        killed_at = await _job_status(client, job_id)
        await asyncio.sleep(1.0)
        serving.predictor.start()
        await asyncio.to_thread(serving.predictor.wait_ready, 180)

        deadline = time.monotonic() + 300
        status = await _job_status(client, job_id)
        while status["status"] != "completed":
            assert time.monotonic() < deadline, f"job stuck: {status}"
            await asyncio.sleep(0.5)
            status = await _job_status(client, job_id)
        assert status["predicted_rows"] == JOB_ROWS
        assert killed_at["predicted_rows"] < JOB_ROWS  # it really died mid-job

        results = await client.get(f"/batch-jobs/{job_id}/results")
        assert results.status_code == 200
        result_lines = results.text.strip().splitlines()
        assert len(result_lines) == JOB_ROWS + 2  # header + rows (one invalid, with its error)
        assert "area" in result_lines[-1] or "greater than 0" in result_lines[-1]

    async with engine.connect() as conn:
        total, distinct = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT input_id) FROM predictions "
                    "WHERE batch_job_id = :j"
                ),
                {"j": job_id},
            )
        ).one()
    assert total == distinct == JOB_ROWS  # exactly one stored prediction per input row


async def test_stream_values_each_listing_once(serving: Serving, engine: AsyncEngine) -> None:
    """Validated listings are valued and stored once each, duplicates (redelivery) included."""
    from aiokafka import AIOKafkaProducer
    from valora_contracts import LISTINGS_VALIDATED, ListingFeatures, ValidatedListing, utcnow
    from valora_messaging import KafkaSettings, kafka_security

    prefix = f"S{uuid.uuid4().hex[:8]}"
    listings = [
        ValidatedListing(
            listing_id=f"{prefix}-{i}",
            source="serving-test",
            ingested_at=utcnow(),
            features=ListingFeatures(**HOUSE, neighbourhood="Centro"),
            content_hash=f"{prefix}{i}",
            contract_version="test",
        )
        for i in range(300)
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=serving.run.bootstrap, acks="all", **kafka_security(KafkaSettings())
    )
    await producer.start()
    try:
        for listing in [*listings, *listings[:50]]:  # the first 50 twice
            await producer.send(
                LISTINGS_VALIDATED.name,
                listing.model_dump_json().encode(),
                key=listing.listing_id.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()

    query = text(
        "SELECT count(*), count(DISTINCT listing_id) FROM predictions "
        "WHERE source = 'stream' AND listing_id LIKE :p"
    )
    deadline = time.monotonic() + 60
    while True:
        async with engine.connect() as conn:
            total, distinct = (await conn.execute(query, {"p": f"{prefix}-%"})).one()
        if total >= 300 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    # every record, the 50 duplicates included, has been handled by the stream consumers:
    # only then does counting the rows say anything about the duplicates
    await group_caught_up(
        bootstrap=serving.run.bootstrap,
        group_id=f"{serving.run.run_id}-predictor-stream",
        topic=LISTINGS_VALIDATED,
    )
    async with engine.connect() as conn:
        total, distinct = (await conn.execute(query, {"p": f"{prefix}-%"})).one()
    assert total == distinct == 300
