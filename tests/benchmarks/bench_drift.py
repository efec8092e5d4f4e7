"""Drift-monitor benchmark: how many listings (and predictions) per second it judges, and RSS.

Run against the running dev stack (``uv run valora stack up``)::

    uv run python tests/benchmarks/bench_drift.py              # 100,000 listings + predictions
    uv run python tests/benchmarks/bench_drift.py -n 200000 --no-predictions

Registers a small champion with a reference profile, publishes a backlog of N validated
listings (and N predictions of them) *before* starting ``python -m valora_drift_monitor``, then
times how fast the monitor drains each backlog (from its /metrics), so the figure is the
monitor's own capacity, not the producer's. It must keep up with the stream: the data path's
throughput measured in the same ``make bench`` run (``VALORA_BENCH_STREAM_RATE``), else
10,000 listings/s, about what the data path delivers here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchlib import emit
from valora_contracts import LISTINGS_VALIDATED, PREDICTIONS_MADE
from valora_devstack.settings import DevstackSettings
from valora_devstack.stack import StackInfo, services_paused
from valora_drift_monitor.entrypoints.subscribers import group_ids
from valora_drift_monitor.settings import DriftSettings
from valora_ml.synthetic import generate_listings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_drift_support import (
    MonitorProcess,
    Stream,
    commit_group_at_end,
    free_port,
    monitor_env,
    publish,
    register_champion,
)

# The stream rate to keep up with: the data path's throughput measured in the same `make bench`
# run (report.py passes it on), else what the data path sustains on this machine (~10,000/s).
STREAM_RATE = os.environ.get("VALORA_BENCH_STREAM_RATE")
TARGET = float(STREAM_RATE) if STREAM_RATE else 10_000.0
TARGET_TEXT = f">= {TARGET:,.0f} (the data path, this run)" if STREAM_RATE else f">= {TARGET:,.0f}"


def handled(metrics: str, topic: str) -> float:
    pattern = re.compile(
        rf'^valora_messages_total\{{[^}}]*topic="{re.escape(topic)}"[^}}]*\}} (\S+)$'
    )
    return sum(float(m.group(1)) for line in metrics.splitlines() if (m := pattern.match(line)))


def cpu_seconds(monitor: MonitorProcess) -> float:
    assert monitor.process is not None
    fields = Path(f"/proc/{monitor.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def handler_seconds(metrics: str, topic: str) -> float:
    prefix = "valora_handler_seconds_sum{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(prefix) and f'topic="{topic}"' in line
    )


def drain(
    monitor: MonitorProcess, topics: list[str], total: int, timeout_s: float
) -> tuple[dict[str, float], float, float]:
    """Per-topic records/s while the monitor works through ``total`` records of each topic
    (all topics concurrently, as in production), the overall seconds, and peak RSS (MB)."""
    started: float | None = None
    done: dict[str, float] = {}
    peak = 0.0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(done) < len(topics):
        text = monitor.metrics()
        now = time.monotonic()
        counts = {t: handled(text, t) for t in topics}
        if started is None and any(counts.values()):
            started = now
        for topic, count in counts.items():
            if count >= total and topic not in done:
                done[topic] = now
        peak = max(peak, monitor.rss_mb()[0])
        time.sleep(0.05)
    if started is None:
        return {}, 0.0, peak
    rates = {t: total / max(at - started, 1e-9) for t, at in done.items()}
    return rates, max(done.values(), default=started) - started, peak


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="listings (and predictions)")
    parser.add_argument("--no-predictions", action="store_true")
    parser.add_argument("--batch-max-records", type=int, default=2000)
    parser.add_argument(
        "--no-listing-labels", action="store_true", help="VALORA_DRIFT_LISTING_LABELS=false"
    )
    args = parser.parse_args()

    settings = DevstackSettings()
    stack = StackInfo.from_settings(settings)
    run = uuid.uuid4().hex[:8]
    model = f"valora-drift-bench-{run}"
    print(f"registering champion {model} ...", flush=True)
    champion = register_champion(tracking_uri=stack.mlflow_tracking_uri, name=model, seed=7)
    boot = stack.kafka_bootstrap_servers
    for topic, group in group_ids(DriftSettings(drift_group_id=f"it-drift-{run}")).items():
        spec = {t.name: t for t in (LISTINGS_VALIDATED, PREDICTIONS_MADE)}.get(topic)
        if spec is not None:
            await commit_group_at_end(bootstrap=boot, group_id=group, topic=spec)

    print(f"publishing a backlog of {args.n:,} listings ...", flush=True)
    stream = Stream(marker=f"bench-{run}", champion=champion)
    predict = not args.no_predictions
    for start in range(0, args.n, 50_000):
        size = min(50_000, args.n - start)
        out = stream.batch(generate_listings(size, seed=start), predictions=predict)
        await publish(boot, LISTINGS_VALIDATED.name, out["listings"])
        if predict:
            await publish(boot, PREDICTIONS_MADE.name, out["predictions"])

    port = free_port()
    env = monitor_env(
        run_id=run,
        stack=stack,
        model_name=model,
        port=port,
        VALORA_KAFKA_BATCH_MAX_RECORDS=str(args.batch_max_records),
        VALORA_DRIFT_LISTING_LABELS=str(not args.no_listing_labels).lower(),
    )
    with tempfile.TemporaryDirectory() as tmp, services_paused(settings):
        monitor = MonitorProcess(env=env, port=port, log_path=Path(tmp) / "drift.log")
        monitor.start()
        try:
            topics = [LISTINGS_VALIDATED.name] + ([PREDICTIONS_MADE.name] if predict else [])
            cpu_before = cpu_seconds(monitor)
            rates, elapsed, peak = await asyncio.to_thread(drain, monitor, topics, args.n, 600)
            cpu = cpu_seconds(monitor) - cpu_before
            rss, hwm = monitor.rss_mb()
            text = monitor.metrics()
            busy = {t: handler_seconds(text, t) for t in topics}
        finally:
            monitor.stop()

    print(f"\ndrift monitor, {args.n:,} records per topic, batches of {args.batch_max_records}")
    overall = args.n / elapsed if elapsed else 0.0
    figures = [
        ("listings_per_s", rates.get(LISTINGS_VALIDATED.name, 0.0), "listings/s"),
        *(
            [("predictions_per_s", rates.get(PREDICTIONS_MADE.name, 0.0), "predictions/s")]
            if predict
            else []
        ),
        ("listings_with_predictions_per_s" if predict else "overall_per_s", overall, "listings/s"),
    ]
    for metric, value, unit in figures:
        print(f"  {metric:<20} {value:>12,.0f} {unit}")
        emit(benchmark="drift", metric=metric, value=value, unit=unit, target=TARGET_TEXT)
    print(f"  {'rss_mb':<20} {rss:>12,.1f} MB (peak sampled {peak:,.1f}, VmHWM {hwm:,.1f})")
    emit(benchmark="drift", metric="rss_mb", value=hwm, unit="MB")
    print(
        f"  monitor CPU {cpu:,.1f} s over {elapsed:,.1f} s; handler time "
        + ", ".join(f"{t} {b:,.1f} s" for t, b in busy.items())
    )
    capacity = args.n / cpu if cpu else 0.0
    print(
        f"  {'cpu_capacity':<20} {capacity:>12,.0f} listings per monitor CPU-second "
        "(what one replica sustains when it has a core to itself)"
    )
    emit(benchmark="drift", metric="listings_per_cpu_s", value=capacity, unit="listings/s")
    keeps_up = overall >= TARGET
    print(f"  keeps up with {TARGET:,.0f} listings/s: {'yes' if keeps_up else 'NO'}")


if __name__ == "__main__":
    asyncio.run(main())
