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


def test_upload_workers_do_not_outlive_a_killed_gateway(tmp_path: Path) -> None:
    """``kill -9`` of the gateway (no shutdown) must not leave its upload workers behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "gateway_like.py"
    script.write_text(
        "import asyncio\n"
        "from valora_gateway.adapters.upload_store import UploadWorkers\n"
        "async def main():\n"
        "    workers = UploadWorkers(dsn='postgresql://unused', size=2)\n"
        "    await workers.start()\n"
        "    print('started', flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "started"

    def children() -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent.pid:
                found.add(int(stat.parent.name))
        return found

    workers = children()
    assert len(workers) >= 2  # the pool's workers (and multiprocessing's resource tracker)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)}
    assert alive == set()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
