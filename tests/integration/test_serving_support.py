"""Harness for the serving integration tests and benchmark (no tests in here).

Registers small price models in MLflow following the trainer's convention
(:class:`valora_ml.pricemodel.PriceModel`, interval metadata, alias ``champion``), promotes them
(alias + ``models.promoted.v1``), runs ``python -m valora_predictor`` / ``valora_gateway`` as
subprocesses, and positions consumer groups at the topics' ends so earlier runs' records are
never re-processed.
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
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from valora_contracts import MODELS_PROMOTED, ModelMetrics, ModelPromoted, TopicSpec
from valora_messaging import KafkaSettings, encode_event, ensure_topics, kafka_security

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_model(*, seed: int, n: int = 3000, factor: float = 1.0, adaptive: bool = False) -> object:
    """A small PriceModel (ridge regression; ``factor`` scales prices so versions differ). With
    ``adaptive`` it is fitted as the trainer fits one (:mod:`valora_ml.fitting`: cross-conformal
    adaptive interval, training ranges, error model with the default settings), else with the
    former constant half-width."""
    from sklearn.linear_model import Ridge
    from valora_ml.conformal import conformal_half_width
    from valora_ml.error_model import ErrorModelSettings
    from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline
    from valora_ml.fitting import IntervalSettings, fit_gate_model
    from valora_ml.pricemodel import PriceModel
    from valora_ml.synthetic import generate_listings

    frame = generate_listings(n, seed=seed)
    frame["price"] = frame["price"] * factor
    if adaptive:
        frame.insert(0, "listing_id", [f"s{i}" for i in range(n)])
        return fit_gate_model(
            candidates={"ridge": lambda: build_feature_pipeline(Ridge(alpha=1.0))},
            fit_rows=frame,
            label="price",
            settings=IntervalSettings(folds=5),
            model_family="ridge",
            error_model=ErrorModelSettings(),
        ).model
    train, calib = frame.iloc[: n * 3 // 4], frame.iloc[n * 3 // 4 :]
    pipeline = build_feature_pipeline(Ridge(alpha=1.0))
    pipeline.fit(train[list(FEATURE_COLUMNS)], train["price"])
    half = conformal_half_width(calib["price"], pipeline.predict(calib[list(FEATURE_COLUMNS)]))
    return PriceModel(pipeline, half_width=half, level=0.9, model_family="ridge")


def register_model(
    *, tracking_uri: str, name: str, seed: int, factor: float = 1.0, adaptive: bool = False
) -> str:
    """Log and register a model version (not yet champion); returns its version."""
    import mlflow
    from valora_ml.pricemodel import model_metadata

    model = train_model(seed=seed, factor=factor, adaptive=adaptive)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"valora-serving-tests-{name}")
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 1.0)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            metadata=model_metadata(
                half_width=model.half_width,  # type: ignore[attr-defined]
                level=0.9,
                model_family="ridge",
            ),
            registered_model_name=name,
            pip_requirements=["scikit-learn", "pandas", "numpy"],
        )
    del run
    return str(info.registered_model_version)


def set_champion(*, tracking_uri: str, name: str, version: str) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(name, "champion", version)
    return str(client.get_model_version(name, version).run_id)


async def publish_promoted(*, bootstrap: str, name: str, version: str, run_id: str) -> None:
    await ensure_topics(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), topics=[MODELS_PROMOTED]
    )
    event = ModelPromoted(
        model_name=name,
        model_version=version,
        run_id=run_id,
        metrics=ModelMetrics(
            rmse=1, mae=1, mape=0.1, r2=0.9, interval_coverage=0.9, n_train=1, n_test=1
        ),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **kafka_security(KafkaSettings())
    )
    await producer.start()
    try:
        await producer.send_and_wait(MODELS_PROMOTED.name, encode_event(event), key=name.encode())
    finally:
        await producer.stop()


async def commit_group_at_end(*, bootstrap: str, group_id: str, topic: TopicSpec) -> None:
    """Give ``group_id`` committed offsets at the topic's current end (skip older records)."""
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


@dataclass
class ServiceProcess:
    """A service as a subprocess (``python -m <module>``), killable with SIGKILL."""

    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self.env, stdout=log, stderr=log
            )

    def wait_ready(self, timeout_s: float = 90.0, path: str = "/health/ready") -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{self.port}{path}"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited: see {self.log_path}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.module} not ready in {timeout_s}s: see {self.log_path}")

    def kill(self) -> None:
        """kill -9: no graceful shutdown, uncommitted offsets are left behind."""
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


@dataclass
class ServingRun:
    """One run's names: model, consumer groups, gateway instance."""

    run_id: str
    bootstrap: str
    database_url: str
    tracking_uri: str
    log_dir: Path

    @property
    def model_name(self) -> str:
        return f"valora-price-{self.run_id}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VALORA_") and k != "PYTHONDONTWRITEBYTECODE"  # faster restarts
        }
        env.update(
            {
                "VALORA_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "VALORA_DATABASE_URL": self.database_url,
                "VALORA_MLFLOW_TRACKING_URI": self.tracking_uri,
                "VALORA_MODEL_NAME": self.model_name,
                "VALORA_LOG_JSON": "false",
                "VALORA_LOG_LEVEL": "WARNING",
                "VALORA_PREDICTOR_GROUP_ID": f"{self.run_id}-predictor",
                "VALORA_PREDICTOR_STREAM_GROUP_ID": f"{self.run_id}-predictor-stream",
                "VALORA_PREDICTOR_CHAMPION_POLL_S": "30",
                "VALORA_GATEWAY_INSTANCE_ID": f"test-{self.run_id}",
                "VALORA_GATEWAY_CHAMPION_CACHE_S": "1",
            }
        )
        env.update(extra)
        return env

    async def prepare_groups(self) -> None:
        from valora_contracts import LISTINGS_VALIDATED, PREDICTIONS_REQUESTS

        await commit_group_at_end(
            bootstrap=self.bootstrap,
            group_id=f"{self.run_id}-predictor",
            topic=PREDICTIONS_REQUESTS,
        )
        await commit_group_at_end(
            bootstrap=self.bootstrap,
            group_id=f"{self.run_id}-predictor-stream",
            topic=LISTINGS_VALIDATED,
        )

    def predictor(self, **extra: str) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            "valora_predictor",
            self.env(VALORA_PREDICTOR_PORT=str(port), **extra),
            port,
            self.log_dir / "predictor.log",
        )

    def gateway(self, **extra: str) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            "valora_gateway",
            self.env(VALORA_GATEWAY_PORT=str(port), **extra),
            port,
            self.log_dir / "gateway.log",
        )


def new_log_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


SEED_BODY = (
    b'{"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1, '
    b'"bairro": "Zona Sul"}'
)


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 client (one connection): cheap enough that the load
    generator is not what a benchmark measures. Expects ``Content-Length`` responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None
        assert self._writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._writer.write(head + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        payload = await self._reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
