"""Harness for the data-path integration tests and benchmark (no tests in here).

Runs ``python -m valora_ingestion`` / ``python -m valora_validator`` as subprocesses against a
real Kafka, publishes raw records, and collects every outcome (validated, rejected, dead letter)
that belongs to one run (recognised by a unique ``source``), with ``read_committed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from valora_contracts import (
    LISTINGS_INGESTED,
    LISTINGS_RAW,
    LISTINGS_REJECTED,
    LISTINGS_VALIDATED,
    DeadLetter,
    dlq_for,
)
from valora_messaging import KafkaSettings, ensure_topics, kafka_security

OUTCOME_TOPICS = {
    LISTINGS_VALIDATED.name: "validated",
    LISTINGS_REJECTED.name: "rejected",
    dlq_for(LISTINGS_RAW).name: "dlq",
    dlq_for(LISTINGS_INGESTED).name: "dlq_ingested",
}
_DLQ_TOPICS = frozenset({dlq_for(LISTINGS_RAW).name, dlq_for(LISTINGS_INGESTED).name})
DATAPATH_TOPICS = [
    LISTINGS_RAW,
    LISTINGS_INGESTED,
    LISTINGS_VALIDATED,
    LISTINGS_REJECTED,
    dlq_for(LISTINGS_RAW),
    dlq_for(LISTINGS_INGESTED),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service as a subprocess (``python -m <module>``), killable with SIGKILL."""

    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=self.env, stdout=log, stderr=log
        )
        log.close()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{self.port}/health/ready"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited: see {self.log_path}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.module} not ready in {timeout_s}s: see {self.log_path}")

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5.0).text

    def kill(self) -> None:
        """kill -9: no graceful shutdown, an open transaction is left behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def service_env(*, run_id: str, bootstrap: str, **extra: str) -> dict[str, str]:
    """Environment of a run's services: own consumer groups and transactional ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALORA_")}
    env.update(
        {
            "VALORA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "VALORA_LOG_JSON": "false",
            "VALORA_LOG_LEVEL": "WARNING",
            # Fresh groups start at the end: earlier runs' records are not re-processed.
            "VALORA_KAFKA_AUTO_OFFSET_RESET": "latest",
            "VALORA_INGESTION_GROUP_ID": f"{run_id}-ingestion",
            "VALORA_VALIDATOR_GROUP_ID": f"{run_id}-validator",
        }
    )
    env.update(extra)
    return env


def start_replicas(
    *, run_id: str, bootstrap: str, log_dir: Path, replicas: int, **extra: str
) -> list[ServiceProcess]:
    """``replicas`` processes each of ingestion and validator (one consumer group per service,
    each process its own port and log); returns ingestions then validators."""
    started: list[ServiceProcess] = []
    for module in ("valora_ingestion", "valora_validator"):
        name = module.removeprefix("valora_")
        for replica in range(replicas):
            port = free_port()
            env = service_env(run_id=run_id, bootstrap=bootstrap, **extra)
            env[f"VALORA_{name.upper()}_PORT"] = str(port)
            proc = ServiceProcess(module, env, port, log_dir / f"{name}-{replica}.log")
            proc.start()
            started.append(proc)
    for proc in started:
        proc.wait_ready()
    return started


def start_services(
    *, run_id: str, bootstrap: str, log_dir: Path, **extra: str
) -> tuple[ServiceProcess, ServiceProcess]:
    ingestion_port, validator_port = free_port(), free_port()
    env = service_env(
        run_id=run_id,
        bootstrap=bootstrap,
        VALORA_INGESTION_PORT=str(ingestion_port),
        VALORA_VALIDATOR_PORT=str(validator_port),
        **extra,
    )
    ingestion = ServiceProcess("valora_ingestion", env, ingestion_port, log_dir / "ingestion.log")
    validator = ServiceProcess("valora_validator", env, validator_port, log_dir / "validator.log")
    ingestion.start()
    validator.start()
    ingestion.wait_ready()
    validator.wait_ready()
    return ingestion, validator


@dataclass
class Outcomes:
    """Everything of one run seen on the outcome topics."""

    by_topic: Counter[str] = field(default_factory=Counter)
    validated: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    arrival: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_topic.values())


class OutcomeCollector:
    """Reads the outcome topics from their current end, keeping what carries ``marker``."""

    def __init__(self, *, bootstrap: str, marker: str) -> None:
        self.marker = marker
        self._marker_bytes = marker.encode()
        self.outcomes = Outcomes()
        self.probes = 0
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **kafka_security(KafkaSettings()),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        specs = {t.name: t for t in DATAPATH_TOPICS}
        partitions = [
            TopicPartition(topic, p)
            for topic in OUTCOME_TOPICS
            for p in range(specs[topic].partitions)
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now, before anything is published
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    if r.value is None:
                        continue
                    if r.topic in _DLQ_TOPICS:
                        pass  # the original is base64 inside the dead letter
                    elif self._marker_bytes not in r.value:
                        continue
                    self._add(r.topic, r.value, now)

    def _add(self, topic: str, value: bytes, now: float) -> None:
        kind = OUTCOME_TOPICS[topic]
        if kind in ("dlq", "dlq_ingested"):
            letter = DeadLetter.model_validate_json(value)
            if self._marker_bytes not in letter.original:
                return
            self.outcomes.dead.append(letter)
        else:
            body = orjson.loads(value)
            if body.get("source") == f"{self.marker}-probe":
                self.probes += 1
                return
            if body.get("source") != self.marker:
                return
            (self.outcomes.validated if kind == "validated" else self.outcomes.rejected).append(
                body
            )
            self.outcomes.arrival[body["listing_id"]] = now
        self.outcomes.by_topic[kind] += 1

    async def wait_for(self, total: int, *, timeout_s: float) -> Outcomes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outcomes.total >= total:
                break
            await asyncio.sleep(0.2)
        return self.outcomes

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def publish_raw(
    *, bootstrap: str, values: Iterable[bytes], window: int = 5000
) -> tuple[int, dict[int, float]]:
    """Publish raw values (no key) to the ingest topic; returns count and send times by index."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
        **kafka_security(KafkaSettings()),
    )
    await producer.start()
    sent_at: dict[int, float] = {}
    count = 0
    try:
        pending = []
        for i, value in enumerate(values):
            sent_at[i] = time.perf_counter()
            pending.append(await producer.send(LISTINGS_RAW.name, value))
            count += 1
            if len(pending) >= window:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count, sent_at


async def prepare_topics(bootstrap: str) -> None:
    await ensure_topics(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), topics=DATAPATH_TOPICS
    )


async def wait_pipeline_ready(
    *, bootstrap: str, collector: OutcomeCollector, timeout_s: float = 60.0
) -> None:
    """Publish probes until one comes out validated: both services consume and produce."""
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        probe = {
            "listing_id": f"probe-{attempt}",
            "source": f"{collector.marker}-probe",
            "area": 80,
            "bedrooms": 2,
            "bathrooms": 1,
            "age": 3,
            "garage": 1,
            "neighbourhood": "Centro",
        }
        await publish_raw(bootstrap=bootstrap, values=[orjson.dumps(probe)])
        for _ in range(10):
            if collector.probes:
                return
            await asyncio.sleep(0.3)
    raise TimeoutError("the data path did not validate a probe listing")


def histogram_sum(metrics_text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a histogram in Prometheus text, summed over label sets."""
    total = count = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count
