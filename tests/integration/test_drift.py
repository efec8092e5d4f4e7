"""Drift monitor end to end on real Kafka, PostgreSQL and MLflow (the service as a subprocess).

One run, phases in order (each phase waits until the monitor judged all of its windows):
A  50,000 listings (+ their predictions, + 1,000 sales at the true price), no drift -> no alert
B  area x1.3, 5 windows (restart in the middle) -> one critical ``area`` alert within 2
   windows, one prediction alert, one TrainingRequested(reason=drift); no repeat after restart
C  shift removed, 3 windows -> ``area`` resolved
C2 area x1.3 again, 2 windows -> nothing: the condition is in its cooldown
D  neighbourhood mix changed, 2 windows -> an alert naming ``neighbourhood``
E  1,000 predictions sold 20% above the true price -> a performance alert
F  1,000 listings and their predictions, each published twice (as after a rebalance or an
   aborted transaction) -> exactly one more data window and one more prediction window
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from test_drift_support import (
    MonitorProcess,
    Stream,
    TopicCollector,
    commit_group_at_end,
    free_port,
    group_caught_up,
    monitor_env,
    publish,
    register_champion,
    sale_event,
)
from typer.testing import CliRunner
from valora_cli import alerts as alerts_cli
from valora_cli import drift as drift_cli
from valora_contracts import (
    DRIFT_ALERTS,
    LISTINGS_VALIDATED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    TRAINING_REQUESTS,
    topic_by_name,
)
from valora_db import create_engine
from valora_devstack.stack import StackInfo
from valora_drift_monitor.entrypoints.subscribers import group_ids
from valora_drift_monitor.settings import DriftSettings
from valora_ml.synthetic import DriftSpec, generate_listings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
logger = logging.getLogger(__name__)
WINDOW = 1000


async def windows_done(database_url: str, model: str, kind: str = "data") -> int:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text("SELECT count(*) FROM drift_windows WHERE model_name = :m AND kind = :k"),
                {"m": model, "k": kind},
            )
            return int(result.scalar_one())
    finally:
        await engine.dispose()


async def window_ordinal(database_url: str, model: str, end: str) -> int:
    """1-based position, in judging order, of the data window that ended at ``end``."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT window_end FROM drift_windows WHERE model_name = :m AND kind = 'data'"
                    " ORDER BY id"
                ),
                {"m": model},
            )
            ends = [r[0] for r in rows]
    finally:
        await engine.dispose()
    return ends.index(datetime.fromisoformat(end)) + 1


async def wait_windows(
    database_url: str, model: str, expected: int, kind: str = "data", timeout_s: float = 90
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await windows_done(database_url, model, kind) >= expected:
            return
        await asyncio.sleep(0.3)
    got = await windows_done(database_url, model, kind)
    raise AssertionError(f"{kind} windows: {got} < {expected}")


async def wait_for(predicate, timeout_s: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return bool(predicate())


async def test_drift_monitor_end_to_end(devstack: StackInfo, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    model = f"valora-drift-it-{run}"
    champion = await asyncio.to_thread(
        register_champion, tracking_uri=devstack.mlflow_tracking_uri, name=model, seed=42
    )
    boot = devstack.kafka_bootstrap_servers
    port = free_port()
    env = monitor_env(
        run_id=run,
        stack=devstack,
        model_name=model,
        port=port,
        VALORA_DRIFT_WINDOW_SIZE=str(WINDOW),
        VALORA_DRIFT_PREDICTION_WINDOW_SIZE=str(WINDOW),
        VALORA_DRIFT_AUTO_RETRAIN="true",
        VALORA_DRIFT_COOLDOWN_S="3600",
        VALORA_DRIFT_RESOLVE_AFTER="2",
    )
    for topic, group in group_ids(DriftSettings(drift_group_id=f"it-drift-{run}")).items():
        await commit_group_at_end(bootstrap=boot, group_id=group, topic=topic_by_name(topic))
    collector = TopicCollector(
        bootstrap=boot, topics=[DRIFT_ALERTS, TRAINING_REQUESTS], needle=model
    )
    await collector.start()
    monitor = MonitorProcess(env=env, port=port, log_path=tmp_path / "drift.log")
    monitor.start()
    stream = Stream(marker=f"drift-it-{run}", champion=champion)
    alerts = collector.records[DRIFT_ALERTS.name]
    retrains = collector.records[TRAINING_REQUESTS.name]
    windows = predicted = 0

    async def phase(
        n: int, seed: int, drift: DriftSpec | None = None, predict: bool = False
    ) -> int:
        nonlocal windows, predicted
        start = stream.count
        out = stream.batch(generate_listings(n, seed=seed, drift=drift), predictions=predict)
        await publish(boot, LISTINGS_VALIDATED.name, out["listings"])
        if predict:
            await publish(boot, PREDICTIONS_MADE.name, out["predictions"])
        windows += n // WINDOW
        await wait_windows(devstack.database_url, model, windows)
        if predict:
            predicted += n
            await wait_windows(devstack.database_url, model, predicted // WINDOW, "prediction")
        return start

    try:
        # A: no drift -------------------------------------------------------------------
        started = time.monotonic()
        await phase(50_000, seed=1000, predict=True)
        rate = 50_000 / (time.monotonic() - started)
        sold = [
            (
                f"{stream.marker}-{i}".encode(),
                sale_event(f"{stream.marker}-{i}", price, datetime.now(UTC)),
            )
            for i, price in enumerate(generate_listings(50_000, seed=1000)["price"].head(1000))
        ]
        await publish(boot, SALES_OBSERVED.name, sold)
        await asyncio.sleep(3)
        logger.warning("phase A: %.0f listings/s end to end (publish + judge)", rate)
        assert alerts == [], f"false alerts on no-drift windows: {alerts}"

        # B: area x1.3 ------------------------------------------------------------------
        shift = DriftSpec(shift={"area": 1.3})
        await phase(3 * WINDOW, seed=2000, drift=shift, predict=True)
        assert await wait_for(lambda: any(a["feature"] == "area" for a in alerts))
        area = [a for a in alerts if a["feature"] == "area"]
        assert len(area) == 1
        first = area[0]
        assert (first["kind"], first["statistic"], first["severity"], first["state"]) == (
            "data",
            "psi",
            "critical",
            "firing",
        )
        assert first["model_version"] == champion.version
        delay = await window_ordinal(devstack.database_url, model, first["window"]["end"]) - 50
        assert 1 <= delay <= 2, f"area detected in the {delay}th window after the shift"
        logger.warning("phase B: area detected in window %d after the shift", delay)
        assert await wait_for(lambda: any(a["kind"] == "prediction" for a in alerts))
        assert await wait_for(lambda: len(retrains) >= 1)
        assert retrains[0]["reason"] == "drift"
        assert retrains[0]["model_name"] == model

        monitor.stop()  # a restart must not re-fire what is already firing
        monitor.start()
        await phase(2 * WINDOW, seed=2001, drift=shift, predict=True)
        await asyncio.sleep(2)
        assert len([a for a in alerts if a["feature"] == "area"]) == 1
        assert len(retrains) == 1  # retrain cooldown

        # C: shift removed -> resolved; C2: shift back within the cooldown -> silence ---
        await phase(3 * WINDOW, seed=3000)
        assert await wait_for(
            lambda: any(a["feature"] == "area" and a["state"] == "resolved" for a in alerts)
        )
        await phase(2 * WINDOW, seed=3001, drift=shift)
        await asyncio.sleep(1)
        assert [a["state"] for a in alerts if a["feature"] == "area"] == ["firing", "resolved"]
        await phase(2 * WINDOW, seed=3002)  # back to normal (nothing was firing)

        # D: neighbourhood mix ---------------------------------------------------------
        await phase(2 * WINDOW, seed=4000, drift=DriftSpec(neighbourhood_mix={"Centro": 0.6}))
        assert await wait_for(lambda: any(a["feature"] == "neighbourhood" for a in alerts))

        # E: realised prices 20% above the true ones -----------------------------------
        frame = generate_listings(1000, seed=5000)
        e_start = await phase(1000, seed=5000, predict=True)
        inflated = [
            (
                f"{stream.marker}-{e_start + i}".encode(),
                sale_event(f"{stream.marker}-{e_start + i}", price * 1.2, datetime.now(UTC)),
            )
            for i, price in enumerate(frame["price"])
        ]
        await publish(boot, SALES_OBSERVED.name, inflated)
        assert await wait_for(lambda: any(a["kind"] == "performance" for a in alerts), 60)
        perf = next(a for a in alerts if a["kind"] == "performance")
        assert perf["statistic"] == "mape"
        assert perf["feature"] == "all"
        assert perf["value"] > perf["threshold"]

        # on-call tooling: the CLI renders the latest window and tails the alerts
        cli_env = {"VALORA_DATABASE_URL": devstack.database_url, "VALORA_MODEL_NAME": model}
        report = tmp_path / "report.html"
        result = await asyncio.to_thread(
            CliRunner().invoke, drift_cli.app, ["report", "-o", str(report)], env=cli_env
        )
        assert result.exit_code == 0, result.output
        assert "neighbourhood" in report.read_text()
        result = await asyncio.to_thread(
            CliRunner().invoke,
            alerts_cli.app,
            [
                "tail",
                "--from-beginning",
                "--json",
                "--model",
                model,
                "--max",
                str(len(alerts)),
                "--timeout",
                "30",
            ],
            env={"VALORA_KAFKA_BOOTSTRAP_SERVERS": boot},
        )
        assert result.exit_code == 0, result.output
        assert len(result.output.strip().splitlines()) == len(alerts)

        # F: every record twice -> counted once ---------------------------------------
        twice = stream.batch(generate_listings(WINDOW, seed=6000), predictions=True)
        for topic, records in ((LISTINGS_VALIDATED, "listings"), (PREDICTIONS_MADE, "predictions")):
            await publish(boot, topic.name, twice[records] + twice[records])
        await wait_windows(devstack.database_url, model, windows + 1)
        await wait_windows(devstack.database_url, model, predicted // WINDOW + 1, "prediction")
        groups = group_ids(DriftSettings(drift_group_id=f"it-drift-{run}"))
        for topic in (LISTINGS_VALIDATED, PREDICTIONS_MADE):
            await group_caught_up(bootstrap=boot, group_id=groups[topic.name], topic=topic)
        assert await windows_done(devstack.database_url, model) == windows + 1
        judged = await windows_done(devstack.database_url, model, "prediction")
        assert judged == predicted // WINDOW + 1
        events = {
            sample.labels["event"]: sample.value
            for family in text_string_to_metric_families(monitor.metrics())
            if family.name == "valora_drift_events"
            for sample in family.samples
            if sample.name == "valora_drift_events_total"
        }
        assert (events["listing_duplicate"], events["prediction_duplicate"]) == (WINDOW, WINDOW)

        firing = [a for a in alerts if a["state"] == "firing"]
        assert len({a["dedupe_key"] for a in firing}) == len(firing), "one alert per condition"
        logger.warning("alerts: %s", [(a["kind"], a["feature"], a["state"]) for a in alerts])
    finally:
        monitor.stop()
        await collector.stop()
