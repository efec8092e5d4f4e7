"""Exactly-once that survives a zombie: replicas frozen, killed and added mid-stream.

Two replicas of ingestion and of the validator (their own ports and logs) read a stream of
listings; mid-stream one replica of each is (1) frozen with SIGSTOP for longer than the consumer
session timeout and thawed, (2) killed with SIGKILL and restarted, or (3) joined by a new
replica (scale-up rebalance). A ``read_committed`` reader of ``listings.validated.v1`` must see
every listing exactly once. Then the same for the predictor's stream consumer: two predictor
replicas, one frozen and thawed; each listing is valued once in the predictions table and the
drift monitor counts each prediction once in its windows.

Figures (``[eo]`` lines): listings, validated, duplicates, lost, records in flight at the fault.
Sizes: ``VALORA_E2E_EO_LISTINGS`` (100,000, the issue's), ``VALORA_E2E_EO_RATE`` (8,000/s),
``VALORA_E2E_EO_FREEZE_S`` (15: the session timeout is 10 s).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import pytest
from e2e_support import (
    Services,
    by_source,
    listings,
    raw_values,
    register_champion,
    run_env,
    service,
    stream_rows,
    validated_values,
    wait_ready,
)
from kafka_support import TopicCollector, prepare, producer_session, send_all
from valora_devstack import DevstackSettings
from valora_devstack.services import replica_port, spec_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

N = int(os.environ.get("VALORA_E2E_EO_LISTINGS", "100000"))
RATE = float(os.environ.get("VALORA_E2E_EO_RATE", "8000"))
FREEZE_S = float(os.environ.get("VALORA_E2E_EO_FREEZE_S", "15"))
OUTCOMES = ["listings.validated.v1", "listings.rejected.v1", "listings.raw.dlq.v1",
            "listings.ingested.dlq.v1"]  # fmt: skip


def report(**figures: Any) -> None:
    print("\n[eo] " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def _outcomes(log: Any) -> int:
    return sum(log.count(t) for t in OUTCOMES)


async def _paced(boot: str, values: list[bytes], rate: float, chunk: int = 1000) -> int:
    sent, started = 0, time.monotonic()
    async with producer_session(boot) as producer:
        for start in range(0, len(values), chunk):
            sent += await send_all(producer, "listings.raw.v1", values[start : start + chunk])
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    return sent


async def _up(services: Services, settings: DevstackSettings, name: str, env: dict[str, str],
              replica: int) -> Any:  # fmt: skip
    component = services.add(service(settings, name, env, replica=replica))
    await asyncio.to_thread(component.up)
    port = replica_port(settings, spec_of(name), replica)
    await asyncio.to_thread(wait_ready, port)
    return component


def _tally(log: Any, ids: set[str]) -> dict[str, int]:
    validated = Counter(r["listing_id"] for r in log.records.get("listings.validated.v1", []))
    rejected = Counter(r["listing_id"] for r in log.records.get("listings.rejected.v1", []))
    seen = set(validated) | set(rejected)
    return {
        "validated": sum(validated.values()),
        "rejected": sum(rejected.values()),
        "duplicates": sum(c - 1 for c in validated.values())
        + sum(c - 1 for c in rejected.values()),
        "lost": len(ids - seen),
        "unknown": len(seen - ids),
        "dead_letters": log.count("listings.raw.dlq.v1") + log.count("listings.ingested.dlq.v1"),
    }


@pytest.mark.parametrize("fault", ["freeze", "kill", "scale_up"])
async def test_every_listing_is_validated_exactly_once_through_a_fault(
    e2e_stack: DevstackSettings, run_id: str, services: Services, fault: str
) -> None:
    settings, boot = e2e_stack, e2e_stack.kafka_bootstrap_servers
    await prepare(boot, run_id)
    env = {**run_env(run_id), "VALORA_KAFKA_BATCH_MAX_RECORDS": "500"}
    replicas = 1 if fault == "scale_up" else 2
    victims = {}
    for name in ("ingestion", "validator"):
        for replica in range(replicas):
            victims[(name, replica)] = await _up(services, settings, name, env, replica)
    records = listings(run_id, N, seed=17)
    ids = {r["listing_id"] for r in records}
    collector = TopicCollector(bootstrap=boot, topics=OUTCOMES, keep=by_source(run_id))
    await collector.start()
    try:
        t0 = time.monotonic()
        publishing = asyncio.create_task(_paced(boot, raw_values(records), RATE))
        reached = await collector.wait(lambda log: _outcomes(log) >= 0.3 * N, timeout_s=300)
        assert reached, f"stalled before the fault: {_outcomes(collector.log)}"
        in_flight = len(ids) - _outcomes(collector.log)
        at_fault = time.monotonic()
        exits: dict[str, Any] = {}
        logs = {n: settings.log_dir / f"{n}-1.log" for n in ("ingestion", "validator")}
        log_start = {n: p.stat().st_size if p.exists() else 0 for n, p in logs.items()}
        if fault == "freeze":
            frozen = [victims[("ingestion", 1)], victims[("validator", 1)]]
            for component in frozen:
                await asyncio.to_thread(component.freeze)
            await asyncio.sleep(FREEZE_S)
            for component in frozen:
                await asyncio.to_thread(component.thaw)
        elif fault == "kill":
            for key in (("ingestion", 1), ("validator", 1)):
                component = victims[key]
                pid = component.current_pid()
                assert pid is not None
                os.kill(pid, 9)
                await asyncio.sleep(0.5)
                await asyncio.to_thread(component.up)
        else:
            for name in ("ingestion", "validator"):
                await _up(services, settings, name, env, 1)
        sent = await asyncio.wait_for(publishing, timeout=600)
        done = await collector.wait(lambda log: _outcomes(log) >= len(ids), timeout_s=600)
        finished = time.monotonic()
        await collector.quiet(5.0)
        for (name, replica), component in victims.items():
            exits[f"{name}-{replica}"] = "running" if component.current_pid() else "exited"
        tally = _tally(collector.log, ids)
        report(test=f"exactly-once-{fault}", listings=len(ids), published=sent,
               in_flight_at_fault=in_flight, **tally, replicas=exits,
               seconds_after_fault=round(finished - at_fault, 1),
               total_s=round(finished - t0, 1))  # fmt: skip
        assert done, f"{_outcomes(collector.log)} of {len(ids)} outcomes"
        assert tally["dead_letters"] == 0
        for name in ("ingestion", "validator"):  # a fenced zombie ends itself, saying why
            if exits.get(f"{name}-1") == "exited":
                with logs[name].open("rb") as log:
                    log.seek(log_start[name])
                    assert b"fenced" in log.read(), f"{name}-1 exited without being fenced"
        assert (tally["duplicates"], tally["lost"], tally["unknown"]) == (0, 0, 0), tally
    finally:
        await collector.stop()


def _drift_predictions(settings: DevstackSettings) -> tuple[float, float]:
    """(predictions counted, duplicates recognised) by the drift monitor's windows."""
    import httpx

    port = replica_port(settings, spec_of("drift-monitor"), 0)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    counts = {"prediction": 0.0, "prediction_duplicate": 0.0}
    for line in text.splitlines():
        if line.startswith("valora_drift_events_total{"):
            for event in counts:
                if f'event="{event}"' in line:
                    counts[event] += float(line.rsplit(" ", 1)[1])
    return counts["prediction"], counts["prediction_duplicate"]


async def test_each_listing_is_valued_once_and_counted_once_by_drift_through_a_frozen_predictor(
    e2e_stack: DevstackSettings, run_id: str, services: Services
) -> None:
    settings, boot = e2e_stack, e2e_stack.kafka_bootstrap_servers
    env = {**run_env(run_id), "VALORA_KAFKA_BATCH_MAX_RECORDS": "500"}
    await asyncio.to_thread(register_champion, settings.mlflow_url_str, env["VALORA_MODEL_NAME"])
    await prepare(boot, run_id)
    predictors = [await _up(services, settings, "predictor", env, r) for r in (0, 1)]
    await _up(services, settings, "drift-monitor", env, 0)
    values, keys = validated_values(run_id, N, seed=19)
    model = f'"model_name":"{env["VALORA_MODEL_NAME"]}"'.encode()
    made = TopicCollector(bootstrap=boot, topics=["predictions.made.v1"],
                          keep=lambda _topic, value: model in value)  # fmt: skip
    await made.start()
    try:
        t0 = time.monotonic()

        async def publish() -> int:
            async with producer_session(boot) as producer:
                sent = 0
                for start in range(0, len(values), 1000):
                    sent += await send_all(producer, "listings.validated.v1",
                                           values[start : start + 1000],
                                           keys=keys[start : start + 1000])  # fmt: skip
                    ahead = sent / RATE - (time.monotonic() - t0)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                return sent

        publishing = asyncio.create_task(publish())
        deadline = time.monotonic() + 300
        stored_at_fault = stream_rows(settings, run_id)[0]
        while stored_at_fault < 0.3 * N and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            stored_at_fault = stream_rows(settings, run_id)[0]
        await asyncio.to_thread(predictors[1].freeze)
        await asyncio.sleep(FREEZE_S)
        await asyncio.to_thread(predictors[1].thaw)
        sent = await asyncio.wait_for(publishing, timeout=600)
        deadline = time.monotonic() + 600
        rows = stream_rows(settings, run_id)
        while rows[0] < N and time.monotonic() < deadline:
            await asyncio.sleep(1)
            rows = stream_rows(settings, run_id)
        counted, duplicates = _drift_predictions(settings)
        while counted < N and time.monotonic() < deadline:
            await asyncio.sleep(1)
            counted, duplicates = _drift_predictions(settings)
        await made.quiet(5.0)  # anything published or counted twice would show by now
        counted, duplicates = _drift_predictions(settings)
        rows = stream_rows(settings, run_id)
        events = Counter(e["event_id"] for e in made.log.records["predictions.made.v1"])
        report(test="exactly-once-predictor-freeze", listings=N, published=sent,
               stored_at_fault=stored_at_fault, stream_rows=rows[0], distinct_listings=rows[1],
               made_events=sum(events.values()), made_distinct=len(events),
               drift_counted=counted, drift_duplicates_recognised=duplicates,
               total_s=round(time.monotonic() - t0, 1))  # fmt: skip
        assert rows == (N, N, N), f"stream rows {rows}: lost or duplicated"
        # read_committed, the predictions topic holds each prediction once: no replica's output of
        # a partition it lost is committed, and no offset moved back to have a listing valued twice
        assert (sum(events.values()), len(events)) == (N, N), "predictions.made.v1 lost or repeated"
    finally:
        await made.stop()
    assert counted - duplicates == N, f"drift counted {counted - duplicates} of {N} predictions"
