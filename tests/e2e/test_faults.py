"""Fault tests on real components (an isolated dev stack, see :mod:`e2e_support`).

1. ``kill -9`` the Kafka broker in the middle of a stream of listings through ingestion and
   validator, restart it: no listing lost, none validated twice (read_committed).
2. Kill PostgreSQL with SIGKILL under streaming valuations and gateway predictions, restart it
   (crash recovery), then freeze it with SIGSTOP for longer than the services' statement
   timeout and thaw it: every validated listing has exactly one stream prediction row, every
   200 answer's prediction is stored, nothing is stored that was not answered (at most one row
   per unanswered call), and the gateway answers 200 again.
3. ``kill -9`` each service once (ingestion, validator, predictor, gateway, trainer) during a
   stream plus gateway load, restart each: no listing lost or validated twice, one stream
   prediction per validated listing, /predict keeps answering 200 while services are killed,
   answers and stored rows match as in 2, the interrupted training request finishes.

Figures (counts, recovery seconds) are printed with the ``[fault]`` prefix (``pytest -s``).

Sizes (CI defaults; larger runs in brackets):
``VALORA_E2E_BROKER_LISTINGS`` 100,000 (the issue's size), ``VALORA_E2E_BROKER_DOWN_S`` 5 [30],
``VALORA_E2E_PUBLISH_RATE`` 5,000 listings/s, ``VALORA_E2E_KILL_RATE`` 500 listings/s,
``VALORA_E2E_PG_DOWN_S`` 30, ``VALORA_E2E_PG_FROZEN_S`` 20 (statement timeout
``VALORA_E2E_PG_TIMEOUT_S`` 5), ``VALORA_E2E_PG_STREAM`` 3,000 [20,000],
``VALORA_E2E_KILL_LISTINGS`` 6,000 [20,000].
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    Load,
    Services,
    by_source,
    gateway_load,
    kill9,
    listings,
    query,
    raw_values,
    register_champion,
    run_env,
    service,
    spec_of,
    stream_rows,
    validated_values,
    wait_ready,
    write_training_config,
)
from kafka_support import (
    TopicCollector,
    TopicLog,
    prepare,
    producer_session,
    publish,
    send_all,
)
from valora_devstack import DevstackSettings, up
from valora_devstack.kafka import KafkaBroker
from valora_devstack.postgres import PostgresCluster
from valora_devstack.process import signal_group

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BROKER_LISTINGS = int(os.environ.get("VALORA_E2E_BROKER_LISTINGS", "100000"))
BROKER_DOWN_S = float(os.environ.get("VALORA_E2E_BROKER_DOWN_S", "5"))
PUBLISH_RATE = float(os.environ.get("VALORA_E2E_PUBLISH_RATE", "5000"))
KILL_RATE = float(os.environ.get("VALORA_E2E_KILL_RATE", "500"))
PG_DOWN_S = float(os.environ.get("VALORA_E2E_PG_DOWN_S", "30"))
PG_FROZEN_S = float(os.environ.get("VALORA_E2E_PG_FROZEN_S", "20"))
PG_TIMEOUT_S = float(os.environ.get("VALORA_E2E_PG_TIMEOUT_S", "5"))
PG_STREAM = int(os.environ.get("VALORA_E2E_PG_STREAM", "3000"))
KILL_LISTINGS = int(os.environ.get("VALORA_E2E_KILL_LISTINGS", "6000"))

OUTCOME_TOPICS = [
    "listings.validated.v1",
    "listings.rejected.v1",
    "listings.raw.dlq.v1",
    "listings.ingested.dlq.v1",
]


def report(**figures: Any) -> None:
    print("\n[fault] " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def outcomes(log: TopicLog) -> int:
    return sum(log.count(t) for t in OUTCOME_TOPICS)


def paced(values: list[bytes], rate: float, chunk: int = 500) -> Any:
    """An async-friendly pacing: yields values, sleeping so the rate is about ``rate``/s."""

    async def run(bootstrap: str, progress: Callable[[int], None] | None = None) -> int:
        sent = 0
        started = time.monotonic()
        async with producer_session(bootstrap) as producer:
            for start in range(0, len(values), chunk):
                part = values[start : start + chunk]
                sent += await send_all(producer, "listings.raw.v1", part)
                if progress:
                    progress(sent)
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        return sent

    return run


def assert_each_listing_once(log: TopicLog, ids: set[str]) -> tuple[int, int]:
    validated = [r["listing_id"] for r in log.records.get("listings.validated.v1", [])]
    rejected = [r["listing_id"] for r in log.records.get("listings.rejected.v1", [])]
    dead = log.count("listings.raw.dlq.v1") + log.count("listings.ingested.dlq.v1")
    assert dead == 0, f"{dead} dead letters"
    assert len(set(validated)) == len(validated), (
        f"{len(validated) - len(set(validated))} listings validated twice"
    )
    assert len(set(rejected)) == len(rejected), "a listing was rejected twice"
    assert not set(validated) & set(rejected), "a listing was both validated and rejected"
    seen = set(validated) | set(rejected)
    assert seen == ids, f"lost {len(ids - seen)} listings, {len(seen - ids)} unknown"
    return len(validated), len(rejected)


async def start(services: Services, settings: DevstackSettings, name: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    component = services.add(service(settings, name, env))
    await asyncio.to_thread(component.up)
    return component


# ---- 1. broker ----------------------------------------------------------------------------------


async def test_broker_kill9_mid_stream_loses_and_duplicates_nothing(
    e2e_stack: DevstackSettings, run_id: str, services: Services
) -> None:
    settings = e2e_stack
    boot = settings.kafka_bootstrap_servers
    await prepare(boot, run_id)
    env = {**run_env(run_id), "VALORA_KAFKA_BATCH_MAX_RECORDS": "500"}
    ingestion = await start(services, settings, "ingestion", env)
    validator = await start(services, settings, "validator", env)
    for name in ("ingestion", "validator"):
        await asyncio.to_thread(wait_ready, spec_of(name).port + settings.service_port_offset)

    records = listings(run_id, BROKER_LISTINGS, seed=7)
    ids = {r["listing_id"] for r in records}
    collector = TopicCollector(bootstrap=boot, topics=OUTCOME_TOPICS, keep=by_source(run_id))
    await collector.start()
    broker = KafkaBroker(settings)
    try:
        t0 = time.monotonic()
        publishing = asyncio.create_task(paced(raw_values(records), PUBLISH_RATE)(boot))
        reached = await collector.wait(lambda log: outcomes(log) >= 0.3 * len(ids), timeout_s=180)
        assert reached, f"only {outcomes(collector.log)} outcomes before the kill"
        before_kill = outcomes(collector.log)
        killed_pid = await asyncio.to_thread(kill9, broker)
        killed_at = time.monotonic()
        await asyncio.sleep(BROKER_DOWN_S)
        restart = await asyncio.to_thread(up, settings, only=["kafka"])
        restarted_at = time.monotonic()
        assert restart.started == ["kafka"]
        at_restart = outcomes(collector.log)
        progressed = await collector.wait(lambda log: outcomes(log) > at_restart, timeout_s=180)
        first_after = time.monotonic()
        sent = await asyncio.wait_for(publishing, timeout=300)
        done = await collector.wait(lambda log: outcomes(log) >= len(ids), timeout_s=300)
        finished_at = time.monotonic()
        await collector.quiet(3.0)
        alive = {
            "ingestion": ingestion.current_pid() is not None,
            "validator": validator.current_pid() is not None,
        }
        report(
            test="broker-kill9",
            listings=len(ids),
            published=sent,
            outcomes_before_kill=before_kill,
            outcomes=outcomes(collector.log),
            counts=dict(collector.log.counts()),
            broker_pid_killed=killed_pid,
            broker_down_s=round(restarted_at - killed_at, 1),
            broker_restart_s=restart.seconds.get("kafka"),
            first_outcome_after_restart_s=round(first_after - restarted_at, 1),
            total_s=round(finished_at - t0, 1),
            services_alive=alive,
        )
        assert progressed, "nothing came out after the broker restarted"
        assert all(alive.values()), f"a service died with the broker: {alive} (see logs)"
        assert done, f"{outcomes(collector.log)} of {len(ids)} outcomes"
        validated, rejected = assert_each_listing_once(collector.log, ids)
        report(test="broker-kill9", validated=validated, rejected=rejected, lost=0, duplicates=0)
    finally:
        await collector.stop()


# ---- 2. PostgreSQL ------------------------------------------------------------------------------


def sync_prediction_ids(settings: DevstackSettings, model: str) -> set[str]:
    """Every stored sync prediction of ``model`` (by prediction id)."""
    rows = query(
        settings,
        "SELECT prediction_id FROM predictions WHERE source = 'sync' AND model_name = %(m)s",
        {"m": model},
    )
    return {str(r[0]) for r in rows}


def assert_answers_match_rows(load: Load, stored: set[str]) -> dict[str, int]:
    """Every 200 answer's prediction is stored, and nothing is stored that was not answered
    or could have been lost on the way back: at most one row per call without a 200 (a
    request valued and stored whose reply never arrived, then redelivered or timed out)."""
    answered = [b["prediction_id"] for b in load.ok()]
    not_answered = sum(1 for _, status, _ in load.results if status != 200)
    assert len(set(answered)) == len(answered), "two 200 answers carry the same prediction"
    missing = set(answered) - stored
    assert not missing, f"{len(missing)} answered predictions are not stored"
    unanswered_rows = len(stored - set(answered))
    assert unanswered_rows <= not_answered, (
        f"{unanswered_rows} stored predictions were never answered, "
        f"but only {not_answered} calls went unanswered"
    )
    return {"answered": len(answered), "unanswered_calls": not_answered,
            "stored_unanswered": unanswered_rows}  # fmt: skip


async def serving_stack(
    settings: DevstackSettings, run_id: str, services: Services, **extra: str
) -> tuple[dict[str, str], Any, Any]:
    env = {**run_env(run_id), **extra}
    version = await asyncio.to_thread(
        register_champion, settings.mlflow_url_str, env["VALORA_MODEL_NAME"]
    )
    env["E2E_CHAMPION_V1"] = version
    await prepare(settings.kafka_bootstrap_servers, run_id)
    predictor = await start(services, settings, "predictor", env)
    gateway = await start(services, settings, "gateway", env)
    for name in ("predictor", "gateway"):
        await asyncio.to_thread(wait_ready, spec_of(name).port + settings.service_port_offset)
    return env, predictor, gateway


async def test_postgres_killed_and_frozen_loses_no_valuation_and_duplicates_no_row(
    e2e_stack: DevstackSettings, run_id: str, services: Services
) -> None:
    """PostgreSQL is killed with SIGKILL (an immediate crash: recovery on restart) and later
    frozen with SIGSTOP for longer than the services' statement timeout (a hung server): each
    is a transient error (backoff, no stalled consumer), nothing is lost or stored twice."""
    settings = e2e_stack
    boot = settings.kafka_bootstrap_servers
    env, predictor, gateway = await serving_stack(
        settings, run_id, services, VALORA_DATABASE_COMMAND_TIMEOUT_S=str(PG_TIMEOUT_S),
        VALORA_DATABASE_ACQUIRE_TIMEOUT_S=str(PG_TIMEOUT_S),
    )  # fmt: skip
    model = env["VALORA_MODEL_NAME"]
    gateway_url = f"http://127.0.0.1:{spec_of('gateway').port + settings.service_port_offset}"
    values, keys = validated_values(run_id, PG_STREAM)
    postgres = PostgresCluster(settings)
    stop = asyncio.Event()
    load = Load()
    loading = asyncio.create_task(gateway_load(gateway_url, stop=stop, load=load, workers=3))
    parts = [(values[i::4], keys[i::4]) for i in range(4)]  # before, crash, frozen, after
    await publish(boot, "listings.validated.v1", parts[0][0], keys=parts[0][1])
    await asyncio.sleep(3)
    killed_at = time.monotonic()
    pid = postgres.current_pid()
    assert pid is not None
    signal_group(pid, signal.SIGKILL)
    await publish(boot, "listings.validated.v1", parts[1][0], keys=parts[1][1])
    await asyncio.sleep(PG_DOWN_S)
    restart = await asyncio.to_thread(up, settings, only=["postgres"])
    restarted_at = time.monotonic()
    await asyncio.sleep(5)
    frozen_at = time.monotonic()
    await asyncio.to_thread(postgres.freeze)
    await publish(boot, "listings.validated.v1", parts[2][0], keys=parts[2][1])
    await asyncio.sleep(PG_FROZEN_S)
    await asyncio.to_thread(postgres.thaw)
    thawed_at = time.monotonic()
    await publish(boot, "listings.validated.v1", parts[3][0], keys=parts[3][1])
    deadline = thawed_at + 180
    while time.monotonic() < deadline:
        if any(s == 200 and sent > thawed_at for sent, s, _ in load.results):
            break
        await asyncio.sleep(0.2)
    recovered = min((t for t, s, _ in load.results if s == 200 and t > thawed_at), default=None)
    await asyncio.sleep(5)  # a steady tail of load after recovery
    stop.set()
    await loading
    deadline = time.monotonic() + 240
    rows = stream_rows(settings, run_id)
    while rows[0] < PG_STREAM and time.monotonic() < deadline:
        await asyncio.sleep(1)
        rows = stream_rows(settings, run_id)
    await asyncio.sleep(3)
    rows = stream_rows(settings, run_id)
    stored = sync_prediction_ids(settings, model)
    tail = [s for sent, s, _ in load.results if sent > time.monotonic() - 6]
    in_faults = [s for t, s, _ in load.results if killed_at <= t <= thawed_at]
    report(
        test="postgres-kill9-and-freeze",
        killed_pid=pid,
        pg_down_s=round(restarted_at - killed_at, 1),
        pg_restart_s=restart.seconds.get("postgres"),
        pg_frozen_s=round(thawed_at - frozen_at, 1),
        statement_timeout_s=PG_TIMEOUT_S,
        stream_listings=PG_STREAM,
        stream_rows=rows,
        gateway_calls=len(load.results),
        statuses=dict(load.statuses()),
        statuses_during_faults=dict(Counter(in_faults)),
        gateway_recovery_s=None if recovered is None else round(recovered - thawed_at, 1),
        predictor_alive=predictor.current_pid() is not None,
        gateway_alive=gateway.current_pid() is not None,
    )
    assert predictor.current_pid() is not None, "the predictor died during the outage"
    assert gateway.current_pid() is not None, "the gateway died during the outage"
    assert rows == (PG_STREAM, PG_STREAM, PG_STREAM), f"stream rows {rows}: lost or duplicated"
    report(test="postgres-kill9-and-freeze", **assert_answers_match_rows(load, stored))
    assert recovered is not None, "the gateway never answered 200 after the faults"
    assert tail, "no load after recovery"
    assert all(s == 200 for s in tail), f"after recovery: {tail}"
    assert 500 not in load.statuses(), "an outage must be 502/503/504, never a bare 500"


# ---- 3. kill -9 every service -------------------------------------------------------------------


async def test_kill9_each_service_once(
    e2e_stack: DevstackSettings, run_id: str, services: Services, tmp_path: Path
) -> None:
    from valora_contracts import TrainingRequested
    from valora_messaging import encode_event

    settings = e2e_stack
    boot = settings.kafka_bootstrap_servers
    config = write_training_config(tmp_path / "training.yaml", trials=2)
    env, predictor, gateway = await serving_stack(
        settings,
        run_id,
        services,
        VALORA_KAFKA_BATCH_MAX_RECORDS="300",
        VALORA_TRAINING_CONFIG=str(config),
    )
    model = env["VALORA_MODEL_NAME"]
    comps = {"predictor": predictor, "gateway": gateway}
    for name in ("ingestion", "validator", "trainer"):
        comps[name] = await start(services, settings, name, env)
    gateway_url = f"http://127.0.0.1:{spec_of('gateway').port + settings.service_port_offset}"

    records = listings(run_id, KILL_LISTINGS, seed=13)
    ids = {r["listing_id"] for r in records}
    collector = TopicCollector(
        bootstrap=boot,
        topics=[*OUTCOME_TOPICS, "models.trained.v1"],
        keep=lambda t, v: (
            (model.encode() in v) if t == "models.trained.v1" else by_source(run_id)(t, v)
        ),
    )
    await collector.start()
    stop = asyncio.Event()
    load = Load()
    loading = asyncio.create_task(gateway_load(gateway_url, stop=stop, load=load, workers=2))
    recovery: dict[str, float] = {}
    kill_at: dict[str, float] = {}
    request = TrainingRequested(model_name=model, reason="manual", requested_by="e2e", trials=2)
    try:
        t0 = time.monotonic()
        publishing = asyncio.create_task(paced(raw_values(records), KILL_RATE)(boot))
        plan = [("ingestion", 0.1), ("validator", 0.25), ("predictor", 0.4), ("gateway", 0.55),
                ("trainer", 0.7)]  # fmt: skip
        for name, fraction in plan:
            reached = await collector.wait(
                lambda log, f=fraction: outcomes(log) >= f * len(ids), timeout_s=240
            )
            assert reached, f"stalled before killing {name}: {outcomes(collector.log)}"
            if name == "trainer":  # kill it in the middle of a training run
                await publish(
                    boot, "training.requests.v1", [encode_event(request)], keys=[model.encode()]
                )
                await asyncio.sleep(4)
            await asyncio.to_thread(kill9, comps[name])
            killed = time.monotonic()
            kill_at[name] = killed - t0
            await asyncio.to_thread(comps[name].up)
            port = spec_of(name).port + settings.service_port_offset
            path = (
                "/health/ready"
                if name in ("ingestion", "validator", "predictor", "gateway")
                else "/health/live"
            )
            await asyncio.to_thread(wait_ready, port, 180.0, path)
            recovery[name] = round(time.monotonic() - killed, 1)
        await asyncio.wait_for(publishing, timeout=300)
        done = await collector.wait(lambda log: outcomes(log) >= len(ids), timeout_s=300)
        await collector.quiet(3.0)
        stop.set()
        await loading
        validated_n = collector.log.count("listings.validated.v1")
        deadline = time.monotonic() + 300
        rows = stream_rows(settings, run_id)
        while rows[0] < validated_n and time.monotonic() < deadline:
            await asyncio.sleep(1)
            rows = stream_rows(settings, run_id)
        await asyncio.sleep(3)
        rows = stream_rows(settings, run_id)
        trained = await collector.wait(
            lambda log: log.count("models.trained.v1") >= 1, timeout_s=300
        )

        def request_status() -> list[Any]:
            return list(query(
                settings,
                "SELECT status, attempts FROM training_requests WHERE request_id = %(r)s",
                {"r": request.request_id},
            ))  # fmt: skip

        deadline = time.monotonic() + 120
        status = request_status()
        while (not status or status[0][0] != "done") and time.monotonic() < deadline:
            await asyncio.sleep(1)
            status = request_status()
        stored = sync_prediction_ids(settings, model)
        during = [s for t, s, _ in load.results if t0 + min(kill_at.values()) <= t]
        report(
            test="kill9-each-service",
            listings=len(ids),
            outcomes=outcomes(collector.log),
            counts=dict(collector.log.counts()),
            stream_rows=rows[0],
            stream_distinct_listings=rows[1],
            gateway_calls=len(load.results),
            statuses=dict(load.statuses()),
            statuses_during_kills=dict(Counter(during)),
            sync_rows=len(stored),
            recovery_s=recovery,
            training_request=status,
            models_trained_events=collector.log.count("models.trained.v1"),
            total_s=round(time.monotonic() - t0, 1),
        )
        assert done, f"{outcomes(collector.log)} of {len(ids)} outcomes"
        validated, _ = assert_each_listing_once(collector.log, ids)
        assert rows == (validated, validated, validated), f"stream rows {rows} vs {validated}"
        assert Counter(during)[200] > 0, "no /predict was answered while services were killed"
        report(test="kill9-each-service", **assert_answers_match_rows(load, stored))
        assert trained, "the training request interrupted by kill -9 never finished"
        assert collector.log.count("models.trained.v1") == 1, "the request was trained twice"
        assert status, "the training request is not stored"
        assert status[0][0] == "done", f"training request: {status}"
    finally:
        stop.set()
        await collector.stop()
        if not loading.done():
            loading.cancel()
