"""Trainer acceptance on real Kafka, PostgreSQL and MLflow (the trainer as a subprocess).

1. 3,000 synthetic validated listings -> the trainer trains on its own (new-labels trigger),
   registers version 1 as champion and announces it on ``models.promoted.v1``; a second run on
   corrupted labels (shuffled prices) is rejected by the gate and the champion does not move.
2. Killing the trainer in the middle of a run leaves no half-promoted state; after a restart
   the request is retried and promoted exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from test_trainer_support import (
    Db,
    Follower,
    TrainerProcess,
    publish_listings,
    publish_request,
    shuffled_prices,
    synthetic_listings,
    trainer_config,
    unique,
)
from valora_contracts import (
    MODELS_PROMOTED,
    MODELS_TRAINED,
    ModelPromoted,
    ModelTrained,
    TrainingRequested,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _champion(client: MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


async def test_trains_promotes_and_gate_rejects_corrupted_labels(
    devstack: Any, tmp_path: Path
) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    model_name = unique("it-trainer")
    source = model_name
    trained = Follower(bootstrap, MODELS_TRAINED.name, ModelTrained, model_name)
    promoted = Follower(bootstrap, MODELS_PROMOTED.name, ModelPromoted, model_name)
    await trained.start()
    await promoted.start()
    trainer = TrainerProcess(
        devstack, model_name, source, tmp_path, trainer_config(trials=6, new_labels=3000)
    )
    db = Db(devstack.database_url)
    client = MlflowClient(devstack.mlflow_tracking_uri)
    try:
        trainer.start()
        await trainer.wait_ready()
        listings = synthetic_listings(3000, source=source, seed=11)
        await publish_listings(bootstrap, listings)

        first = await promoted.wait_for(lambda e: True, timeout_s=420)
        assert first.model_version == "1"
        assert first.previous_version is None
        assert _champion(client, model_name) == "1"
        run1 = await trained.wait_for(lambda e: e.model_version == "1", timeout_s=30)
        assert run1.gate.passed
        assert run1.run_id == first.run_id
        assert run1.metrics.n_train + run1.metrics.n_test == 3000  # no calibration rows held out
        print(f"\nrun 1: {run1.metrics}")  # figures for the report (pytest -s)

        # Corrupt every label (shuffled prices), wait until stored, then ask for a run.
        corrupted = shuffled_prices(listings, seed=3)
        await publish_listings(bootstrap, corrupted)
        expected = {x.listing_id: x.price for x in corrupted}
        async with asyncio.timeout(120):
            while True:
                prices = await db.prices(source)
                if len(prices) == 3000 and all(prices[k] == v for k, v in expected.items()):
                    break
                await asyncio.sleep(0.5)
        request = TrainingRequested(model_name=model_name, reason="manual", trials=4)
        await publish_request(bootstrap, request)
        rejected = await trained.wait_for(
            lambda e: e.request_id == request.request_id, timeout_s=420
        )
        print(f"run 2: {rejected.metrics} gate={rejected.gate}")
        assert not rejected.gate.passed
        assert rejected.model_version == "2"
        assert rejected.gate.reasons
        await promoted.poll(timeout_ms=2000)
        assert [e.model_version for e in promoted.seen] == ["1"]
        assert _champion(client, model_name) == "1"
        version2 = client.get_model_version(model_name, "2")
        assert version2.tags["valora.gate_passed"] == "false"
        async with asyncio.timeout(60):
            while True:
                rows = {r.request_id: r for r in await db.requests(model_name)}
                if rows[request.request_id].status == "done":
                    break
                await asyncio.sleep(0.3)
        assert rows[request.request_id].gate_passed is False
    finally:
        trainer.stop()
        await trained.stop()
        await promoted.stop()
        await db.close()


async def test_restart_mid_run_retries_the_request_without_half_promotion(
    devstack: Any, tmp_path: Path
) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    model_name = unique("it-trainer-restart")
    source = model_name
    promoted = Follower(bootstrap, MODELS_PROMOTED.name, ModelPromoted, model_name)
    await promoted.start()
    # A long search the first time (it is killed during it), a short one after the restart.
    trainer = TrainerProcess(
        devstack, model_name, source, tmp_path, trainer_config(trials=200, new_labels=1500)
    )
    db = Db(devstack.database_url)
    client = MlflowClient(devstack.mlflow_tracking_uri)
    try:
        trainer.start()
        await trainer.wait_ready()
        await publish_listings(bootstrap, synthetic_listings(1500, source=source, seed=5))
        async with asyncio.timeout(240):
            while True:
                rows = await db.requests(model_name)
                if rows and rows[0].status == "running" and rows[0].trials_done >= 1:
                    break
                await asyncio.sleep(0.3)
        trainer.kill()  # SIGKILL in the middle of the search

        rows = await db.requests(model_name)
        assert len(rows) == 1
        assert rows[0].status == "running"
        assert rows[0].attempts == 1
        assert _champion(client, model_name) is None
        await promoted.poll(timeout_ms=1000)
        assert promoted.seen == []

        trainer.start(config=trainer_config(trials=3, new_labels=1500))
        await trainer.wait_ready()
        event = await promoted.wait_for(lambda e: True, timeout_s=420)
        async with asyncio.timeout(60):  # marked done right after the announcement
            while True:
                rows = await db.requests(model_name)
                if rows[0].status == "done":
                    break
                await asyncio.sleep(0.3)
        assert len(rows) == 1
        assert rows[0].status == "done"
        assert rows[0].attempts == 2
        assert rows[0].model_version == event.model_version
        assert _champion(client, model_name) == event.model_version
        await promoted.poll(timeout_ms=2000)
        assert len(promoted.seen) == 1
    finally:
        trainer.stop()
        await promoted.stop()
        await db.close()
