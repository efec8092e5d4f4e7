"""Gateway under overload and under a large upload: it sheds load instead of falling over.

Run against the running dev stack (``uv run valora stack up``)::

    uv run python tests/benchmarks/bench_gateway_load.py
    uv run python tests/benchmarks/bench_gateway_load.py --overload-s 20 --upload-mib 64

Registers a small model, starts the predictor and a gateway as subprocesses, then

1. **capacity**: ``POST /predict/batch`` (``--houses`` houses each) closed-loop at concurrency 8:
   the gateway's measured capacity C in requests/s;
2. **4x overload**: requests arrive open-loop at 4 x C for ``--overload-s`` seconds, against
   the gateway as configured (bounded) and against one whose batch bounds are lifted
   (``--unbounded``, for comparison): answers by status, latency of each kind, timeouts, and the
   gateway's peak resident memory (``VmHWM``, sampled ``VmRSS``);
3. **upload vs /predict**: ``POST /predict`` p99 at concurrency 8 alone, then while a
   ``--upload-mib`` MiB CSV (200,000 rows, each invalid, so the job stores its rows and finishes
   without sending work to the predictor: only the upload path is measured) is uploaded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import uvloop
from bench_serving import load, percentile
from benchlib import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_serving_support import (
    ServiceProcess,
    ServingRun,
    new_log_dir,
    register_model,
    set_champion,
)

HOUSE = {"area": 95.0, "bedrooms": 2, "bathrooms": 1, "age": 12.0, "garage": 1}
NAME = "gateway under load"
JSON = {"content-type": "application/json"}


def _rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """The gateway's resident memory, sampled while a phase runs."""

    pid: int
    samples: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append(_rss_kib(self.pid))
            await asyncio.sleep(0.25)

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def peak_mib(self) -> float:
        return max(self.samples, default=0) / 1024


def _batch_body(houses: int) -> bytes:
    items = [{**HOUSE, "area": 50.0 + i % 200, "neighbourhood": "Centro"} for i in range(houses)]
    return orjson.dumps({"houses": items})


async def capacity(port: int, body: bytes, *, seconds: float) -> float:
    """Closed-loop ``POST /predict/batch`` at concurrency 8: completed requests per second."""
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, headers=JSON
    ) as http:

        async def caller() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                r = await http.post("/predict/batch", content=body)
                done += r.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(8)))
        return done / (time.perf_counter() - started)


@dataclass
class Overload:
    statuses: Counter[str]
    latency: dict[str, list[float]]
    peak_mib: float
    hwm_mib: float


async def overload(
    gateway: ServiceProcess, body: bytes, *, rate: float, seconds: float
) -> Overload:
    """Open loop: one request every 1/``rate`` s for ``seconds`` s, whatever came back."""
    assert gateway.process is not None
    statuses: Counter[str] = Counter()
    latency: dict[str, list[float]] = {}
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{gateway.port}", limits=limits, timeout=timeout, headers=JSON
    ) as http:

        async def one() -> None:
            started = time.perf_counter()
            try:
                kind = str((await http.post("/predict/batch", content=body)).status_code)
            except httpx.TimeoutException:
                kind = "client timeout (30 s)"
            except httpx.HTTPError as exc:
                kind = type(exc).__name__
            statuses[kind] += 1
            latency.setdefault(kind, []).append((time.perf_counter() - started) * 1000)

        with Sampler(gateway.process.pid) as sampler:
            tasks = []
            started = time.perf_counter()
            for n in range(int(rate * seconds)):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
    hwm = _rss_kib(gateway.process.pid, "VmHWM") / 1024
    return Overload(statuses, latency, sampler.peak_mib, hwm)


def _upload_rows(mib: int) -> Iterator[bytes]:
    """A CSV of 200,000 rows padding to ``mib`` MiB: a free-text column makes the rows large;
    every row has a negative area, so the job completes with every row invalid."""
    rows = 200_000
    header = b"area,quartos,banheiros,idade,garagem,bairro,notes\n"
    width = (mib * 1024 * 1024 - len(header) - 4096) // rows
    prefix = b"-1,2,1,10,1,Centro,"
    notes = b"x" * (width - len(prefix) - 1)
    yield header
    chunk = (prefix + notes + b"\n") * 1000
    for _ in range(rows // 1000):
        yield chunk


async def predict_p99(port: int, *, seconds: float) -> tuple[float, float, int]:
    """``POST /predict`` at concurrency 8 for ``seconds``: p50, p99 (ms), errors."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        lat, _, errs = await load(port, concurrency=8, total=400)
        latencies += lat
        errors += errs
    return percentile(latencies, 0.5), percentile(latencies, 0.99), errors


async def upload_vs_predict(gateway: ServiceProcess, mib: int) -> dict[str, float]:
    assert gateway.process is not None
    base_p50, base_p99, _ = await predict_p99(gateway.port, seconds=10)
    data = b"".join(_upload_rows(mib))
    url = f"http://127.0.0.1:{gateway.port}/batch-jobs?filename=big.csv"
    result: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=600) as http:
        with Sampler(gateway.process.pid) as sampler:
            started = time.perf_counter()
            upload = asyncio.create_task(http.post(url, content=data))
            latencies: list[float] = []
            while not upload.done():
                lat, _, _ = await load(gateway.port, concurrency=8, total=200)
                latencies += lat
            response = await upload
            seconds = time.perf_counter() - started
    assert response.status_code == 202, response.text[:500]
    body = response.json()
    print(
        f"  upload: {len(data) / 2**20:.1f} MiB, {body['total_rows']} rows stored in "
        f"{seconds:.1f} s; /predict answered {len(latencies)} calls meanwhile"
    )
    result.update(
        base_p50=base_p50,
        base_p99=base_p99,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        seconds=seconds,
        peak_mib=sampler.peak_mib,
        base_mib=min(sampler.samples, default=0) / 1024,
    )
    return result


def report_overload(label: str, result: Overload, offered: int) -> None:
    print(f"  {label}: {dict(result.statuses)}; peak RSS {result.peak_mib:.0f} MiB")
    for kind, values in sorted(result.latency.items()):
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"    {kind:>22}: n={len(values):5d}  p50={p50:8.1f} ms  p99={p99:8.1f} ms")
    ok = result.statuses.get("200", 0)
    shed = result.statuses.get("503", 0)
    bounded = label == "bounded"
    bench = f"{NAME}: 4x capacity, {label}"
    emit(benchmark=bench, metric="answered 200", value=ok, unit="requests")
    emit(benchmark=bench, metric="answered 503 (shed)", value=shed, unit="requests")
    emit(
        benchmark=bench,
        metric="timed out or failed otherwise",
        value=offered - ok - shed,
        unit="requests",
        target="0" if bounded else None,
    )
    for status, target in (("503", "<< 10 s (reply timeout)"), ("200", None)):
        if status in result.latency:
            emit(
                benchmark=bench,
                metric=f"{status} latency p99",
                value=percentile(result.latency[status], 0.99),
                unit="ms",
                target=target if bounded else None,
            )
    emit(benchmark=bench, metric="gateway peak RSS", value=result.peak_mib, unit="MiB")


def report_upload(figures: dict[str, float], mib: int) -> None:
    ratio = figures["p99"] / figures["base_p99"]
    print(
        f"  /predict p99 alone {figures['base_p99']:.1f} ms, during the upload "
        f"{figures['p99']:.1f} ms ({ratio:.2f}x); gateway RSS {figures['base_mib']:.0f} -> "
        f"{figures['peak_mib']:.0f} MiB"
    )
    bench = f"{NAME}: {mib} MiB upload vs POST /predict (concurrency 8)"
    emit(benchmark=bench, metric="p99 without upload", value=figures["base_p99"], unit="ms")
    emit(benchmark=bench, metric="p99 during upload", value=figures["p99"], unit="ms")
    emit(benchmark=bench, metric="p99 ratio", value=ratio, unit="x", target="<= 2")
    emit(benchmark=bench, metric="upload stored in", value=figures["seconds"], unit="s")
    emit(
        benchmark=bench,
        metric="gateway peak RSS during upload",
        value=figures["peak_mib"],
        unit="MiB",
    )


async def _phase(run: ServingRun, args: argparse.Namespace, *, unbounded: bool) -> Overload:
    extra = {"VALORA_GATEWAY_MAX_BATCH_CALLS": "100000"} if unbounded else {}
    gateway = run.gateway(VALORA_GATEWAY_BATCH_MAX_ITEMS=str(args.houses), **extra)
    gateway.start()
    label = "unbounded" if unbounded else "bounded"
    try:
        await asyncio.to_thread(gateway.wait_ready, 240)
        body = _batch_body(args.houses)
        await capacity(gateway.port, body, seconds=5)  # warm-up
        rate = await capacity(gateway.port, body, seconds=args.capacity_s)
        print(
            f"  capacity: {rate:.1f} req/s ({rate * args.houses:,.0f} houses/s); offering "
            f"{4 * rate:.1f} req/s for {args.overload_s:.0f} s ({label})"
        )
        if not unbounded:
            emit(
                benchmark=f"{NAME}: capacity",
                metric=f"POST /predict/batch ({args.houses} houses), concurrency 8",
                value=rate,
                unit="req/s",
            )
        result = await overload(gateway, body, rate=4 * rate, seconds=args.overload_s)
        report_overload(label, result, int(4 * rate * args.overload_s))
        if not unbounded and args.upload_mib:
            report_upload(await upload_vs_predict(gateway, args.upload_mib), args.upload_mib)
        return result
    finally:
        gateway.stop()


async def main(args: argparse.Namespace) -> None:
    from valora_settings import ValoraSettings

    base = ValoraSettings()
    run = ServingRun(
        run_id=f"load{uuid.uuid4().hex[:8]}",
        bootstrap=base.kafka_bootstrap_servers,
        database_url=base.database_url_str,
        tracking_uri=base.mlflow_url_str,
        log_dir=new_log_dir("valora-bench-load-"),
    )
    print(f"logs: {run.log_dir}")
    version = await asyncio.to_thread(
        register_model, tracking_uri=run.tracking_uri, name=run.model_name, seed=1
    )
    await asyncio.to_thread(
        set_champion, tracking_uri=run.tracking_uri, name=run.model_name, version=version
    )
    await run.prepare_groups()
    predictor = run.predictor(VALORA_PREDICTOR_STREAM_ENABLED="false")
    predictor.start()
    try:
        await asyncio.to_thread(predictor.wait_ready, 240)
        gc.collect()
        gc.freeze()
        await _phase(run, args, unbounded=False)
        if args.unbounded:
            await _phase(run, args, unbounded=True)
    finally:
        predictor.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, default=500, help="houses per batch request")
    parser.add_argument("--capacity-s", type=float, default=15.0, help="capacity measurement")
    parser.add_argument("--overload-s", type=float, default=20.0, help="4x overload duration")
    parser.add_argument("--upload-mib", type=int, default=64, help="upload size (0: skip)")
    parser.add_argument(
        "--unbounded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also overload a gateway whose batch bounds are lifted, for comparison",
    )
    uvloop.run(main(parser.parse_args()))
