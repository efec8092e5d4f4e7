"""Verified models against real MLflow and Kafka: a model artifact changed after registration is
refused by the predictor (never deserialised), which keeps serving the previous champion and
pages on-call on ``drift.alerts.v1``; an untouched version registered by the trainer's own
code passes the same verification and is served.

Versions are registered with the trainer's :class:`~valora_trainer.adapters.registry.
MlflowRegistry` (which records the artifact's SHA-256 as a version tag); the tampering edits
one file of the version in the MLflow server's artifact store on disk, as someone with access to
the store could.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from test_serving_support import ServiceProcess, ServingRun, new_log_dir, train_model
from valora_contracts import DRIFT_ALERTS, MODELS_PROMOTED, DriftAlert, ModelMetrics, ModelPromoted
from valora_devstack import DevstackSettings
from valora_messaging import KafkaSettings, encode_event, ensure_topics, kafka_security
from valora_ml.features import FEATURE_COLUMNS
from valora_ml.integrity import MODEL_SHA256_TAG
from valora_ml.pricemodel import model_metadata
from valora_ml.profile import PROFILE_FILENAME, build_reference_profile
from valora_ml.synthetic import generate_listings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@dataclass
class Integrity:
    run: ServingRun
    predictor: ServiceProcess
    v1: str


def _register(run: ServingRun, *, seed: int, tmp: Path) -> str:
    """A version registered by the trainer's registry adapter (digest recorded)."""
    from valora_trainer.adapters.registry import MlflowRegistry

    registry = MlflowRegistry(run.tracking_uri)
    model: Any = train_model(seed=seed)
    frame = generate_listings(200, seed=seed)[list(FEATURE_COLUMNS)]
    profile = tmp / PROFILE_FILENAME
    profile.write_text(
        build_reference_profile(frame, model.predict_price(frame)).model_dump_json(),
        encoding="utf-8",
    )
    run_id = registry.start_run(
        experiment=f"valora-integrity-{run.run_id}", run_name=f"seed-{seed}", tags={}
    )
    version = registry.register_model(
        run_id=run_id,
        model_name=run.model_name,
        model=model,
        example=frame.head(5),
        metadata=model_metadata(half_width=model.half_width, level=0.9, model_family="ridge"),
        profile_path=profile,
    )
    registry.end_run(run_id, "FINISHED")
    return version


def _client(run: ServingRun) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=run.tracking_uri, registry_uri=run.tracking_uri)


def _tamper(run: ServingRun, version: str) -> Path:
    """Change one byte-for-byte harmless thing in the version's stored MLmodel file."""
    client = _client(run)
    source = client.get_model_version(run.model_name, version).source
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    root = DevstackSettings().state_path / "mlflow" / "artifacts"
    directory = root / location.removeprefix("mlflow-artifacts:/")
    mlmodel = directory / "MLmodel"
    assert mlmodel.is_file(), f"no MLmodel under {directory}"
    mlmodel.write_text(mlmodel.read_text() + "\n# changed after registration\n")
    return mlmodel


async def _promote(run: ServingRun, version: str) -> None:
    client = _client(run)
    client.set_registered_model_alias(run.model_name, "champion", version)
    mv = client.get_model_version(run.model_name, version)
    event = ModelPromoted(
        model_name=run.model_name,
        model_version=version,
        run_id=str(mv.run_id),
        metrics=ModelMetrics(
            rmse=1, mae=1, mape=0.1, r2=0.9, interval_coverage=0.9, n_train=1, n_test=1
        ),
        model_sha256=mv.tags[MODEL_SHA256_TAG],
    )
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=run.bootstrap, acks="all", **kafka_security(KafkaSettings())
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            MODELS_PROMOTED.name, encode_event(event), key=run.model_name.encode()
        )
    finally:
        await producer.stop()


def _metric(predictor: ServiceProcess, name: str, **labels: str) -> float:
    text = httpx.get(
        f"http://127.0.0.1:{predictor.port}/metrics", timeout=5, follow_redirects=True
    ).text
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def integrity(devstack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Integrity]:
    run = ServingRun(
        run_id=uuid.uuid4().hex[:10],
        bootstrap=devstack.kafka_bootstrap_servers,
        database_url=devstack.database_url,
        tracking_uri=devstack.mlflow_tracking_uri,
        log_dir=new_log_dir("valora-integrity-"),
    )
    settings = KafkaSettings(kafka_bootstrap_servers=run.bootstrap)
    asyncio.run(ensure_topics(settings=settings, topics=[MODELS_PROMOTED, DRIFT_ALERTS]))
    v1 = _register(run, seed=1, tmp=tmp_path_factory.mktemp("v1"))
    _client(run).set_registered_model_alias(run.model_name, "champion", v1)
    asyncio.run(run.prepare_groups())
    predictor = run.predictor(VALORA_PREDICTOR_STREAM_ENABLED="false")
    predictor.start()
    try:
        predictor.wait_ready(180)
        yield Integrity(run=run, predictor=predictor, v1=v1)
    finally:
        predictor.stop()


async def _alerts_until(run: ServingRun, consumer: AIOKafkaConsumer, version: str) -> DriftAlert:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                alert = DriftAlert.model_validate_json(record.value or b"")
                if alert.model_name == run.model_name and alert.model_version == version:
                    return alert
    raise AssertionError(f"no alert for {run.model_name} v{version} within 90 s")


async def test_a_tampered_artifact_is_refused_the_champion_kept_and_on_call_paged(
    integrity: Integrity, tmp_path: Path
) -> None:
    run, predictor = integrity.run, integrity.predictor
    served = "valora_predictor_model_version"
    assert _metric(predictor, served, model_version=integrity.v1) == 1.0
    v2 = await asyncio.to_thread(_register, run, seed=2, tmp=tmp_path)
    await asyncio.to_thread(_tamper, run, v2)
    consumer = AIOKafkaConsumer(
        DRIFT_ALERTS.name,
        bootstrap_servers=run.bootstrap,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # positioned at the end before the promotion
        await _promote(run, v2)
        alert = await _alerts_until(run, consumer, v2)
    finally:
        await consumer.stop()
    assert (alert.kind, alert.statistic, alert.severity, alert.state) == (
        "integrity",
        "sha256",
        "critical",
        "firing",
    )
    failures = "valora_model_integrity_failures_total"
    assert _metric(predictor, failures, model_version=v2) == 1.0
    assert _metric(predictor, served, model_version=integrity.v1) == 1.0
    assert _metric(predictor, served, model_version=v2) == 0.0
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"http://127.0.0.1:{predictor.port}/health/ready", timeout=5)
    assert ready.status_code == 200  # still serving the previous champion


async def test_an_untouched_version_passes_the_same_verification(
    integrity: Integrity, tmp_path: Path
) -> None:
    run, predictor = integrity.run, integrity.predictor
    v3 = await asyncio.to_thread(_register, run, seed=3, tmp=tmp_path)
    await _promote(run, v3)
    deadline = time.monotonic() + 90
    served = "valora_predictor_model_version"
    while _metric(predictor, served, model_version=v3) != 1.0:
        assert time.monotonic() < deadline, "the verified version was not swapped in"
        await asyncio.sleep(0.5)
    assert _metric(predictor, "valora_model_integrity_failures_total", model_version=v3) == 0.0
