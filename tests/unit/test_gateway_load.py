"""The gateway sheds load instead of falling over: full queues answer 503 with Retry-After at
once, and an upload is spooled to a file and parsed off the event loop (the figures under load
are measured by ``tests/benchmarks/bench_gateway_load.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_gateway import SEED, FakeClient, _app, _client
from valora_contracts import ListingFeatures, PredictionResult
from valora_messaging.request_reply import OverloadedError

pytestmark = pytest.mark.unit

CSV = b"area,quartos,banheiros,idade,garagem,bairro\n" + b"100,2,1,5,1,Centro\n" * 1200


class SheddingClient(FakeClient):
    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        raise OverloadedError("too many batch calls")


@pytest.mark.parametrize(
    ("path", "body"), [("/predict", SEED), ("/predict/batch", {"houses": [SEED]})]
)
async def test_a_shed_request_is_answered_503_with_retry_after(path: str, body: object) -> None:
    app, _ = _app(SheddingClient(error=OverloadedError("queue full")), gateway_retry_after_s=2)
    async with _client(app) as http:
        r = await http.post(path, json=body)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"] == "overloaded"


async def test_an_upload_is_spooled_to_a_file_handed_to_the_store_and_removed(
    tmp_path: Path,
) -> None:
    app, _ = _app(state_dir=tmp_path)
    services = app.state.services
    async with _client(app) as http:
        raw = await http.post("/batch-jobs?filename=h.csv", content=CSV)
        form = await http.post("/batch-jobs", files={"file": ("h.csv", CSV, "text/csv")})
    for r in (raw, form):
        assert r.status_code == 202, r.text
        assert (r.json()["total_rows"], r.json()["invalid_rows"]) == (1200, 0)
    assert len(services.jobs.jobs) == 2
    assert all(len(rows) == 1200 for rows in services.jobs.jobs.values())
    assert list((tmp_path / "uploads").iterdir()) == []  # spool files removed


async def test_an_unreadable_upload_stores_nothing_and_leaves_no_spool(tmp_path: Path) -> None:
    app, _ = _app(state_dir=tmp_path)
    async with _client(app) as http:
        r = await http.post("/batch-jobs?filename=h.csv", content=b"area\n\xff\xfe\n")
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_upload"
    assert app.state.services.jobs.jobs == {}
    assert list((tmp_path / "uploads").iterdir()) == []


class SlowClient(FakeClient):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        self.entered.set()
        await self.release.wait()
        return await super().predict_many(houses)


async def test_batch_calls_past_the_limit_are_refused_at_once_with_retry_after() -> None:
    client = SlowClient()
    app, _ = _app(client, gateway_max_batch_calls=1, gateway_retry_after_s=3)
    async with _client(app) as http:
        first = asyncio.create_task(http.post("/predict/batch", json={"houses": [SEED]}))
        await client.entered.wait()
        second = await http.post("/predict/batch", json={"houses": [SEED]})
        assert second.status_code == 503
        assert second.headers["retry-after"] == "3"
        assert second.json()["error"] == "overloaded"
        client.release.set()
        assert (await first).status_code == 200
        third = await http.post("/predict/batch", json={"houses": [SEED]})
        assert third.status_code == 200  # the slot is free again
    assert client.many_calls == [1, 1]
