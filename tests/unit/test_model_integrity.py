"""Verified models: the artifact digest, its check, and what the predictor and the trainer do
when a version fails it (the real MLflow path:
``tests/integration/test_model_integrity_on_mlflow.py``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from test_predictor import FakeModel
from valora_contracts import DRIFT_ALERTS, DriftAlert
from valora_messaging import KafkaSettings, create_broker
from valora_ml.integrity import (
    ModelIntegrityError,
    artifact_sha256,
    integrity_alert,
    verify_artifact,
)
from valora_observability import ServiceMetrics
from valora_predictor.adapters.output import IntegrityAlerts, PredictorMetrics
from valora_predictor.domain.holder import ModelHolder
from valora_predictor.domain.model import ModelRef

pytestmark = pytest.mark.unit


def _model_dir(root: Path) -> Path:
    (root / "artifacts").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {python_function: {}}\n")
    (root / "python_model.pkl").write_bytes(bytes(range(256)) * 10)
    (root / "artifacts" / "profile.json").write_text('{"n_rows": 3}')
    return root


def test_the_digest_covers_every_byte_name_and_file(tmp_path: Path) -> None:
    original = _model_dir(tmp_path / "a")
    digest = artifact_sha256(original)
    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    assert artifact_sha256(copy) == digest  # the same files anywhere: the same digest
    pickle = copy / "python_model.pkl"
    data = bytearray(pickle.read_bytes())
    data[100] ^= 1
    pickle.write_bytes(bytes(data))
    assert artifact_sha256(copy) != digest
    pickle.write_bytes(bytes(data[:100]) + bytes([data[100] ^ 1]) + bytes(data[101:]))
    assert artifact_sha256(copy) == digest
    (copy / "artifacts" / "profile.json").rename(copy / "artifacts" / "profile2.json")
    assert artifact_sha256(copy) != digest
    (copy / "artifacts" / "profile2.json").rename(copy / "artifacts" / "profile.json")
    (copy / "extra.py").write_text("print('hello')")
    assert artifact_sha256(copy) != digest


def test_verify_refuses_a_mismatch_and_an_unrecorded_digest(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "m")
    digest = artifact_sha256(model)
    assert verify_artifact(model, expected=digest.upper(), what="m v1") == digest
    with pytest.raises(ModelIntegrityError, match="differs from the recorded") as caught:
        verify_artifact(model, expected="0" * 64, what="m v1")
    assert (caught.value.expected, caught.value.actual) == ("0" * 64, digest)
    with pytest.raises(ModelIntegrityError, match="no recorded SHA-256"):
        verify_artifact(model, expected=None, what="m v1")


@dataclass
class TamperedLoader:
    """v1 loads; every other version fails verification (counted)."""

    champion: str = "1"
    loads: list[tuple[str, str | None]] = field(default_factory=list)

    def resolve_alias(self, name: str, alias: str) -> ModelRef | None:
        if alias != "champion":
            return None
        return ModelRef(name="m", version=self.champion, run_id=f"run-{self.champion}")

    def load(self, ref: ModelRef, *, expected_sha256: str | None = None) -> FakeModel:
        self.loads.append((ref.version, expected_sha256))
        if ref.version != "1":
            raise ModelIntegrityError("tampered", expected=expected_sha256, actual="f" * 64)
        return FakeModel(ref.version)


async def test_a_refused_version_leaves_the_champion_serving_and_alerts_once() -> None:
    loader = TamperedLoader()
    refused: list[tuple[str, str | None]] = []

    async def on_refused(ref: ModelRef, error: ModelIntegrityError) -> None:
        refused.append((ref.version, error.expected))

    holder = ModelHolder(loader=loader, model_name="m", on_refused=on_refused)
    await holder.refresh()
    loader.champion = "2"
    holder.announce("2", "a" * 64)
    with pytest.raises(ModelIntegrityError):
        await holder.refresh()
    assert holder.current is not None
    assert holder.current.ref.version == "1"
    assert refused == [("2", "a" * 64)]
    assert loader.loads[-1] == ("2", "a" * 64)  # verified against the announced digest
    await holder.refresh()  # the periodic alias poll: not loaded (nor alerted) again
    assert len(loader.loads) == 2
    assert refused == [("2", "a" * 64)]
    holder.announce("2", "b" * 64)  # promoted again: tried again
    with pytest.raises(ModelIntegrityError):
        await holder.refresh()
    assert refused == [("2", "a" * 64), ("2", "b" * 64)]
    assert holder.current.ref.version == "1"


async def test_the_integrity_alert_reaches_drift_alerts_and_the_failure_counter() -> None:
    broker = create_broker(settings=KafkaSettings(), client_id="test")
    seen: list[DriftAlert] = []

    @broker.subscriber(DRIFT_ALERTS.name)
    async def collect(alert: DriftAlert) -> None:
        seen.append(alert)

    metrics = PredictorMetrics(metrics=ServiceMetrics("predictor"))
    alerts = IntegrityAlerts(broker=broker, metrics=metrics, service="predictor")
    error = ModelIntegrityError("tampered", expected="a" * 64, actual="b" * 64)
    async with TestKafkaBroker(broker):
        await alerts(ModelRef(name="m", version="7", run_id="r"), error)
    assert [(a.kind, a.severity, a.model_version, a.state) for a in seen] == [
        ("integrity", "critical", "7", "firing")
    ]
    sample: Any = metrics.integrity_failures.labels("predictor", "m", "7")
    assert sample._value.get() == 1.0


def test_the_alert_is_one_condition_per_service_and_version() -> None:
    error = ModelIntegrityError("x", expected=None, actual=None)
    a = integrity_alert(model_name="m", model_version="3", error=error, service="predictor")
    b = integrity_alert(model_name="m", model_version="3", error=error, service="trainer")
    assert a.dedupe_key != b.dedupe_key
    assert (
        a.dedupe_key
        == integrity_alert(
            model_name="m", model_version="3", error=error, service="predictor"
        ).dedupe_key
    )


def test_promotion_announces_the_recorded_digest() -> None:
    from test_trainer_run import METRICS, FakePublisher, _registry_with_champion
    from valora_ml.integrity import MODEL_SHA256_TAG
    from valora_trainer.service_layer.promotion import promote

    log: list[str] = []
    registry, publisher = _registry_with_champion(log), FakePublisher(log)
    registry.versions["2"]["tags"][MODEL_SHA256_TAG] = "c" * 64
    event = promote(
        model_name="m",
        version="2",
        run_id="r-new",
        metrics=METRICS,
        registry=registry,
        publisher=publisher,
    )
    assert event.model_sha256 == "c" * 64
    assert publisher.promoted()[0].model_sha256 == "c" * 64


def test_a_champion_failing_verification_is_never_loaded_and_the_challenger_gated_without() -> None:
    """The trainer refuses to deserialise a tampered champion: the challenger is judged on the
    absolute thresholds alone and, passing them, replaces it."""
    from test_trainer_run import JOB, FakePublisher, FakeRegistry, _deps
    from test_trainer_steps import store_frame
    from valora_trainer.service_layer.run import run_training

    class TamperedChampionRegistry(FakeRegistry):
        def load_predictor(self, model_name: str, version: str) -> Any:
            if version == "1":
                raise ModelIntegrityError("tampered", expected="a" * 64, actual="b" * 64)
            return super().load_predictor(model_name, version)

    log: list[str] = []
    registry = TamperedChampionRegistry(log, champion_predict=lambda frame: None)
    outcome = run_training(
        job=JOB, frame=store_frame(400, timed=True), deps=_deps(registry, FakePublisher(log))
    )
    assert outcome.gate.champion_version is None
    assert outcome.promoted is not None
    assert registry.alias == outcome.model_version
