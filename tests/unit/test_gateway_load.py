"""The gateway sheds load instead of falling over: full queues answer 503 with Retry-After at
once, and an upload is spooled to a file and parsed off the event loop (the figures under load
are measured by ``tests/benchmarks/bench_gateway_load.py``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_gateway import SEED, FakeClient, _app, _client
from valora_contracts import ListingFeatures, PredictionResult
from valora_gateway.domain import uploads
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


async def test_an_upload_is_spooled_parsed_off_the_loop_and_the_spool_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    real_take = uploads.take

    def spying_take(rows, size):  # type: ignore[no-untyped-def]
        threads.add(threading.current_thread().name)
        return real_take(rows, size)

    monkeypatch.setattr("valora_gateway.entrypoints.spool.take", spying_take)
    app, _ = _app(state_dir=tmp_path, gateway_job_insert_rows=500)
    services = app.state.services
    async with _client(app) as http:
        raw = await http.post("/batch-jobs?filename=h.csv", content=CSV)
        form = await http.post("/batch-jobs", files={"file": ("h.csv", CSV, "text/csv")})
    for r in (raw, form):
        assert r.status_code == 202, r.text
        assert (r.json()["total_rows"], r.json()["invalid_rows"]) == (1200, 0)
    assert len(services.jobs.jobs) == 2
    assert all(len(rows) == 1200 for rows in services.jobs.jobs.values())
    assert threads
    assert threading.main_thread().name not in threads  # never parsed on the event loop
    assert list((tmp_path / "uploads").iterdir()) == []  # spool files removed


async def test_an_unreadable_upload_stores_nothing_and_leaves_no_spool(tmp_path: Path) -> None:
    app, _ = _app(state_dir=tmp_path)
    async with _client(app) as http:
        r = await http.post("/batch-jobs?filename=h.csv", content=b"area\n\xff\xfe\n")
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_upload"
    assert app.state.services.jobs.jobs == {}
    assert list((tmp_path / "uploads").iterdir()) == []
