"""Harness for the trainer integration tests (no tests in here).

Runs ``python -m valora_trainer`` as a subprocess against the real dev stack, with a unique
model name, source and consumer group per test, publishes synthetic validated listings and
follows ``models.trained.v1`` / ``models.promoted.v1``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel
from sqlalchemy import select
from valora_contracts import (
    ALL_TOPICS,
    LISTINGS_VALIDATED,
    TRAINING_REQUESTS,
    ListingFeatures,
    TrainingRequested,
    ValidatedListing,
)
from valora_db import create_engine, create_session_factory, session_scope
from valora_db.tables.trainer import TrainingListing, TrainingRequestRow
from valora_messaging import (
    KafkaSettings,
    OutgoingRecord,
    create_broker,
    encode_event,
    ensure_topics,
    kafka_security,
    publish_many,
)
from valora_ml.synthetic import generate_listings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def synthetic_listings(n: int, *, source: str, seed: int) -> list[ValidatedListing]:
    frame = generate_listings(n, seed=seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    return [
        ValidatedListing(
            listing_id=f"{source}-{i:05d}",
            source=source,
            ingested_at=now,
            listed_at=start + timedelta(minutes=i),
            features=ListingFeatures(
                area=row.area,
                bedrooms=int(row.bedrooms),
                bathrooms=int(row.bathrooms),
                age=row.age,
                garage=int(row.garage),
                neighbourhood=str(row.neighbourhood),
            ),
            price=float(row.price),
            content_hash=f"{source}-{i}-{round(row.price * 100)}",  # no dot in a hash
            contract_version="test",
        )
        for i, row in enumerate(frame.itertuples(index=False))
    ]


def shuffled_prices(listings: Sequence[ValidatedListing], *, seed: int) -> list[ValidatedListing]:
    prices = np.random.default_rng(seed).permutation([float(x.price or 0) for x in listings])
    return [
        x.model_copy(update={"price": float(p), "content_hash": f"{x.content_hash}-shuffled"})
        for x, p in zip(listings, prices, strict=True)
    ]


async def publish(bootstrap: str, records: list[OutgoingRecord]) -> None:
    broker = create_broker(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), client_id="it"
    )
    await broker.connect()
    try:
        await publish_many(broker=broker, records=records)
    finally:
        await broker.stop()


async def publish_listings(bootstrap: str, listings: Sequence[ValidatedListing]) -> None:
    await publish(
        bootstrap,
        [
            OutgoingRecord(LISTINGS_VALIDATED.name, encode_event(x), x.listing_id.encode())
            for x in listings
        ],
    )


async def publish_request(bootstrap: str, event: TrainingRequested) -> None:
    await publish(
        bootstrap,
        [OutgoingRecord(TRAINING_REQUESTS.name, encode_event(event), event.model_name.encode())],
    )


@dataclass
class Follower:
    """Reads a topic from the offsets it had when created, keeping one model's events."""

    bootstrap: str
    topic: str
    event_type: type[BaseModel]
    model_name: str
    seen: list[Any] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        await ensure_topics(
            settings=KafkaSettings(kafka_bootstrap_servers=self.bootstrap), topics=ALL_TOPICS
        )
        self._consumer = AIOKafkaConsumer(
            isolation_level="read_committed",
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            **kafka_security(KafkaSettings()),
        )
        await self._consumer.start()
        parts = [
            TopicPartition(self.topic, p)
            for p in self._consumer.partitions_for_topic(self.topic) or [0]
        ]
        self._consumer.assign(parts)
        ends = await self._consumer.end_offsets(parts)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)

    async def poll(self, timeout_ms: int = 500) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            for r in records:
                event = self.event_type.model_validate_json(r.value)
                if getattr(event, "model_name", None) == self.model_name:
                    self.seen.append(event)

    async def wait_for(self, predicate: Any, *, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in self.seen:
                if predicate(event):
                    return event
            await self.poll()
        raise TimeoutError(f"no matching event on {self.topic} in {timeout_s}s: {self.seen}")

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class TrainerProcess:
    """``python -m valora_trainer`` with its own model name, source, group and config."""

    devstack: Any
    model_name: str
    source: str
    workdir: Path
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path | None = None

    def start(self, *, config: dict[str, Any] | None = None) -> None:
        if config is not None:
            self.config = config
        cfg_path = self.workdir / "training.yaml"
        cfg_path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        self.port = free_port()
        env = {
            **os.environ,
            "VALORA_KAFKA_BOOTSTRAP_SERVERS": self.devstack.kafka_bootstrap_servers,
            "VALORA_DATABASE_URL": self.devstack.database_url,
            "VALORA_MLFLOW_TRACKING_URI": self.devstack.mlflow_tracking_uri,
            "VALORA_MODEL_NAME": self.model_name,
            "VALORA_TRAINING_SOURCES": f'["{self.source}"]',
            "VALORA_TRAINER_GROUP_ID": f"it-{self.model_name}",
            "VALORA_MLFLOW_EXPERIMENT": f"it-trainer/{self.model_name}",
            "VALORA_TRAINING_CONFIG": str(cfg_path),
            "VALORA_TRAINER_PORT": str(self.port),
            "VALORA_RUNNER_POLL_S": "0.5",
            "VALORA_LOG_JSON": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        n = len(list(self.workdir.glob("trainer-*.log")))
        self.log_path = self.workdir / f"trainer-{n}.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "valora_trainer"], env=env, stdout=log, stderr=log
        )

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"trainer exited: {self.logs()[-3000:]}")
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/health/ready")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        raise TimeoutError(f"trainer not ready: {self.logs()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def trainer_config(*, trials: int, new_labels: int, timeout_s: float = 300) -> dict[str, Any]:
    return {
        "triggers": {
            "new_labels": new_labels,
            "bootstrap_min_rows": 100_000,
            "min_rows": 200,
            "retry_delay_s": 1,
        },
        "search": {"trials": trials, "timeout_s": timeout_s, "cv_folds": 2},
    }


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sessions = create_session_factory(self.engine)

    async def requests(self, model_name: str) -> list[TrainingRequestRow]:
        async with session_scope(self.sessions) as s:
            stmt = select(TrainingRequestRow).where(TrainingRequestRow.model_name == model_name)
            return list((await s.execute(stmt)).scalars().all())

    async def prices(self, source: str) -> pd.Series:
        async with session_scope(self.sessions) as s:
            stmt = select(TrainingListing.listing_id, TrainingListing.price).where(
                TrainingListing.source == source
            )
            rows = (await s.execute(stmt)).all()
        return pd.Series({lid: p for lid, p in rows}, dtype=float)

    async def close(self) -> None:
        await self.engine.dispose()
