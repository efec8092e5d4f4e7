"""Harness for the drift-monitor integration test and benchmark (no tests in here).

* :func:`register_champion` — a faithful stand-in for the trainer's output: a
  :class:`~valora_ml.pricemodel.PriceModel` (gradient boosting in the shared feature pipeline)
  registered in MLflow, its run holding ``reference_profile.json`` (built with
  :func:`valora_ml.profile.build_reference_profile` on the training rows, as the trainer does)
  and ``test_mae`` / ``test_mape``, then aliased ``champion``.
* Fast JSON builders for ``ValidatedListing`` / ``PredictionMade`` / ``SaleObserved``.
* :class:`MonitorProcess` runs ``python -m valora_drift_monitor``; :class:`TopicCollector`
  follows ``drift.alerts.v1`` and ``training.requests.v1``; :func:`group_caught_up` waits until
  the monitor has handled everything published.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from valora_contracts import TopicSpec
from valora_messaging import KafkaSettings, ensure_topics, kafka_security


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Champion:
    name: str
    version: str
    run_id: str
    test_mae: float
    test_mape: float
    model: Any


def register_champion(*, tracking_uri: str, name: str, seed: int, n: int = 8000) -> Champion:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.ensemble import HistGradientBoostingRegressor
    from valora_ml.conformal import conformal_half_width
    from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline, contract_frame
    from valora_ml.metrics import regression_metrics
    from valora_ml.pricemodel import PROFILE_ARTIFACT, PriceModel, model_metadata
    from valora_ml.profile import PROFILE_FILENAME, build_reference_profile
    from valora_ml.synthetic import generate_listings

    frame = generate_listings(n, seed=seed)
    a, b = int(n * 0.7), int(n * 0.85)
    train, calib, test = frame.iloc[:a], frame.iloc[a:b], frame.iloc[b:]
    pipeline = build_feature_pipeline(HistGradientBoostingRegressor(random_state=seed))
    pipeline.fit(train[list(FEATURE_COLUMNS)], train["price"])
    half = conformal_half_width(calib["price"], pipeline.predict(calib[list(FEATURE_COLUMNS)]))
    model = PriceModel(pipeline, half_width=half, level=0.9, model_family="hgb")
    metrics = regression_metrics(test["price"], model.predict_price(test))
    train_x = contract_frame(train)
    profile = build_reference_profile(train_x, model.predict_price(train_x), bins=10)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"valora-drift-tests-{name}")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run() as run:
        path = Path(tmp) / PROFILE_FILENAME
        path.write_text(profile.model_dump_json(), encoding="utf-8")
        mlflow.log_artifact(str(path))
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.as_dict().items()})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={PROFILE_ARTIFACT: str(path)},
            metadata=model_metadata(half_width=half, level=0.9, model_family="hgb"),
            registered_model_name=name,
            pip_requirements=["scikit-learn", "pandas", "numpy"],
        )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(name, "champion", version)
    return Champion(name, version, run_id, metrics.mae, metrics.mape, model)


def _ts(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _features(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "area": float(row["area"]),
        "bedrooms": int(row["bedrooms"]),
        "bathrooms": int(row["bathrooms"]),
        "age": float(row["age"]),
        "garage": int(row["garage"]),
        "neighbourhood": str(row["neighbourhood"]),
    }


def listing_event(listing_id: str, row: dict[str, Any], at: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "occurred_at": _ts(at),
            "trace_id": uuid.uuid4().hex,
            "listing_id": listing_id,
            "source": "drift-it",
            "ingested_at": _ts(at),
            "features": _features(row),
            "price": float(row["price"]),
            "content_hash": listing_id,
            "contract_version": "it",
        }
    )


def prediction_event(
    listing_id: str, row: dict[str, Any], price: float, at: datetime, champion: Champion
) -> bytes:
    return orjson.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "occurred_at": _ts(at),
            "trace_id": uuid.uuid4().hex,
            "source": "stream",
            "features": _features(row),
            "result": {
                "prediction_id": uuid.uuid4().hex,
                "input_id": listing_id,
                "listing_id": listing_id,
                "price": price,
                "interval": {"lower_bound": price - 1, "upper_bound": price + 1, "level": 0.9},
                "model_name": champion.name,
                "model_version": champion.version,
                "run_id": champion.run_id,
            },
            "input_hash": listing_id,
            "latency_ms": 1.0,
        }
    )


def sale_event(listing_id: str, price: float, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "occurred_at": _ts(at),
            "trace_id": uuid.uuid4().hex,
            "listing_id": listing_id,
            "sale_price": price,
            "sold_at": _ts(at),
        }
    )


@dataclass
class Stream:
    """Builds events for one run: listing ids carry the run's marker, times a global index."""

    marker: str
    champion: Champion
    base: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=2))
    count: int = 0

    def at(self, index: int) -> datetime:
        return self.base + timedelta(milliseconds=index)

    def index_of(self, t: datetime) -> int:
        return round((t - self.base) / timedelta(milliseconds=1))

    def batch(
        self, frame: pd.DataFrame, *, predictions: bool
    ) -> dict[str, list[tuple[bytes, bytes]]]:
        rows = frame.to_dict("records")
        prices = self.champion.model.predict_price(frame) if predictions else None
        listings, made = [], []
        for i, row in enumerate(rows):
            index = self.count + i
            lid = f"{self.marker}-{index}"
            listings.append((lid.encode(), listing_event(lid, row, self.at(index))))
            if prices is not None:
                when = self.at(index) + timedelta(microseconds=500)
                event = prediction_event(lid, row, float(prices[i]), when, self.champion)
                made.append((lid.encode(), event))
        self.count += len(rows)
        return {"listings": listings, "predictions": made}


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        **kafka_security(KafkaSettings()),
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def commit_group_at_end(*, bootstrap: str, group_id: str, topic: TopicSpec) -> None:
    """Give ``group_id`` committed offsets at the topic's end (earlier runs are skipped)."""
    await ensure_topics(settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), topics=[topic])
    consumer = AIOKafkaConsumer(
        isolation_level="read_committed",
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: OffsetAndMetadata(off, "") for tp, off in ends.items()})
    finally:
        await consumer.stop()


async def group_caught_up(
    *, bootstrap: str, group_id: str, topic: TopicSpec, timeout_s: float = 60.0
) -> None:
    """Wait until ``group_id`` committed the end of every partition of ``topic`` (every record
    handled: the monitor commits after its handler returned)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        deadline = time.monotonic() + timeout_s
        while True:
            ends = await consumer.end_offsets(partitions)
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            if all((committed[tp] or 0) >= end for tp, end in ends.items()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group_id} behind on {topic.name}: {committed} < {ends}")
            await asyncio.sleep(0.3)
    finally:
        await consumer.stop()


class TopicCollector:
    """Follows topics from their current end, keeping the records that mention ``needle``."""

    def __init__(self, *, bootstrap: str, topics: list[TopicSpec], needle: str) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.needle = needle.encode()
        self.records: dict[str, list[dict[str, Any]]] = {t.name: [] for t in topics}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        await ensure_topics(
            settings=KafkaSettings(kafka_bootstrap_servers=self.bootstrap), topics=self.topics
        )
        consumer = AIOKafkaConsumer(
            isolation_level="read_committed",
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            **kafka_security(KafkaSettings()),
        )
        await consumer.start()
        parts = [TopicPartition(t.name, p) for t in self.topics for p in range(t.partitions)]
        consumer.assign(parts)
        for tp, offset in (await consumer.end_offsets(parts)).items():
            consumer.seek(tp, offset)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    if self.needle in (r.value or b""):
                        self.records[tp.topic].append(orjson.loads(r.value))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class MonitorProcess:
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "valora_drift_monitor"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"drift monitor exited: see {self.log_path}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"drift monitor not ready: see {self.log_path}")

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def rss_mb(self) -> tuple[float, float]:
        """Current and peak resident memory (MB) of the process."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = {
            line.split(":")[0]: float(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))
        }
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def monitor_env(
    *, run_id: str, stack: Any, model_name: str, port: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALORA_")}
    env.update(
        {
            "VALORA_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "VALORA_DATABASE_URL": stack.database_url,
            "VALORA_MLFLOW_TRACKING_URI": stack.mlflow_tracking_uri,
            "VALORA_MODEL_NAME": model_name,
            "VALORA_LOG_JSON": "false",
            "VALORA_LOG_LEVEL": "WARNING",
            "VALORA_DRIFT_GROUP_ID": f"it-drift-{run_id}",
            "VALORA_DRIFT_PORT": str(port),
            **extra,
        }
    )
    return env
