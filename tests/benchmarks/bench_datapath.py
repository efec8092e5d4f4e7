"""Data-path benchmark: raw published -> ingestion -> validator -> validated consumed.

Run against the running dev stack (``uv run valora stack up``)::

    uv run python tests/benchmarks/bench_datapath.py            # 50,000 listings
    uv run python tests/benchmarks/bench_datapath.py -n 100000 --batch-max-records 1000

Starts both services as subprocesses (own consumer groups and transactional ids), waits until a
probe listing comes through, publishes N synthetic listings as fast as the producer can, and
prints the sustained end-to-end rate, latency percentiles and where the time went (handler and
transaction-commit time and CPU seconds of each service, from /metrics and /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from benchlib import emit
from valora_devstack.stack import services_paused
from valora_messaging import KafkaSettings
from valora_ml.synthetic import generate_listings, iter_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_datapath_support import (
    OutcomeCollector,
    ServiceProcess,
    histogram_sum,
    prepare_topics,
    publish_raw,
    start_replicas,
    wait_pipeline_ready,
)


def cpu_seconds(service: ServiceProcess) -> float:
    assert service.process is not None
    fields = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counter_total(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(n: int, batch_max_records: int, bootstrap: str, log_dir: Path, replicas: int) -> None:
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    await prepare_topics(bootstrap)
    frame = generate_listings(n, seed=1)
    values = [
        orjson.dumps({**r, "listing_id": f"{run_id}-{i}", "source": run_id})
        for i, r in enumerate(iter_records(frame))
    ]
    collector = OutcomeCollector(bootstrap=bootstrap, marker=run_id)
    await collector.start()
    procs = await asyncio.to_thread(
        start_replicas,
        run_id=run_id,
        bootstrap=bootstrap,
        log_dir=log_dir,
        replicas=replicas,
        VALORA_KAFKA_BATCH_MAX_RECORDS=str(batch_max_records),
    )
    ingestion, validator = procs[0], procs[replicas]  # replica 0 of each: where time goes
    try:
        await wait_pipeline_ready(bootstrap=bootstrap, collector=collector)
        before = {s.module: (cpu_seconds(s), s.metrics()) for s in (ingestion, validator)}
        started = time.perf_counter()
        count, sent_at = await publish_raw(bootstrap=bootstrap, values=values)
        published = time.perf_counter()
        got = await collector.wait_for(n, timeout_s=600)
        finished = max(got.arrival.values(), default=time.perf_counter())
        after = {s.module: (cpu_seconds(s), s.metrics()) for s in (ingestion, validator)}
    finally:
        await collector.stop()
        for proc in procs:
            proc.stop()

    wall = finished - started
    arrival = got.arrival
    latencies = [arrival[key] - sent_at[i] for i in range(n) if (key := f"{run_id}-{i}") in arrival]
    print(
        f"\nlistings: {n} published, {got.by_topic['validated']} validated, "
        f"{got.by_topic['rejected']} rejected, {got.by_topic['dlq']} dead-lettered "
        f"(batch max {batch_max_records}, {replicas} replica(s) of each service)"
    )
    print(
        f"publish:    {count / (published - started):10,.0f} listings/s "
        f"({published - started:.2f} s)"
    )
    print(
        f"END-TO-END: {got.total / wall:10,.0f} listings/s sustained "
        f"(raw published -> validated consumed, {wall:.2f} s)"
    )
    print(
        f"latency:    p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )
    print("where the time goes (during the run, replica 0 of each):")
    for module, prefix in (("valora_ingestion", "ingestion"), ("valora_validator", "validator")):
        cpu0, m0 = before[module]
        cpu1, m1 = after[module]
        h0, c0 = histogram_sum(m0, "valora_handler_seconds")
        h1, c1 = histogram_sum(m1, "valora_handler_seconds")
        s0, _ = histogram_sum(m0, f"valora_{prefix}_sink_seconds")
        s1, _ = histogram_sum(m1, f"valora_{prefix}_sink_seconds")
        batches = c1 - c0
        handled = counter_total(m1, "valora_messages_total") - counter_total(
            m0, "valora_messages_total"
        )
        print(
            f"  {prefix:<9} cpu {cpu1 - cpu0:6.2f} s ({(cpu1 - cpu0) / wall:4.0%} of a core) | "
            f"handler {h1 - h0:6.2f} s of which commit/confirm {s1 - s0:6.2f} s | "
            f"{batches:.0f} batches, {handled / max(batches, 1):.0f} records/batch"
        )
    print(f"  (logs in {log_dir})")
    suffix = "" if replicas == 1 else f", {replicas} replicas of each"
    emit(
        benchmark=f"data path (ingestion + validator{suffix})",
        metric="end-to-end throughput, raw -> validated",
        value=got.total / wall,
        unit="listings/s",
        target=">= 5,000" if replicas == 1 else "",
    )
    emit(
        benchmark=f"data path (ingestion + validator{suffix})",
        metric=f"latency p99 under a {n:,}-listing burst",
        value=percentile(latencies, 0.99) * 1000,
        unit="ms",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=50_000, help="listings to publish")
    parser.add_argument("--batch-max-records", type=int, default=2000)
    parser.add_argument(
        "--replicas",
        type=int,
        action="append",
        help="replicas of each service (repeat to run several; default: 1, then 2)",
    )
    parser.add_argument("--bootstrap", default=KafkaSettings().kafka_bootstrap_servers)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="valora-bench-"))
    with services_paused():  # the stack's own ingestion/validator would double the work
        for replicas in args.replicas or [1, 2]:
            asyncio.run(run(args.n, args.batch_max_records, args.bootstrap, log_dir, replicas))


if __name__ == "__main__":
    main()
