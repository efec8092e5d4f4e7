"""One notion of environment: ``local`` accepts the local defaults, ``staging`` and
``production`` refuse every insecure setting a process uses and name the setting to change."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from valora_drift_monitor.settings import DriftSettings
from valora_gateway.settings import GatewaySettings
from valora_ingestion.settings import IngestionSettings
from valora_messaging import KafkaSettings
from valora_predictor.settings import PredictorSettings
from valora_settings import ValoraSettings
from valora_trainer.settings import TrainerSettings
from valora_validator.settings import ValidatorSettings

pytestmark = pytest.mark.unit

SECURE_KAFKA: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "a-real-password-from-the-store",
}
SECURE_DB: dict[str, Any] = {
    "database_url": "postgresql+asyncpg://svc:a-real-db-password@db:5432/valora",
    "database_sslmode": "verify-full",
}
SECURE_MLFLOW: dict[str, Any] = {"mlflow_username": "svc", "mlflow_password": "an-mlflow-pass"}
SECURE = {**SECURE_KAFKA, **SECURE_DB, **SECURE_MLFLOW}


def _refusal(cls: type[ValoraSettings], **values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        cls(_env_file=None, **values)  # type: ignore[call-arg]
    return str(caught.value)


def test_local_is_the_default_and_accepts_the_local_defaults() -> None:
    settings = PredictorSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "local"
    assert settings.kafka_create_topics


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_outside_local_a_secure_service_starts_and_creates_no_topics(environment: str) -> None:
    settings = TrainerSettings(_env_file=None, environment=environment, **SECURE)  # type: ignore[call-arg]
    assert not settings.kafka_create_topics


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"kafka_security_protocol": "PLAINTEXT"}, "VALORA_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "VALORA_KAFKA_ALLOW_PLAINTEXT"),
        ({"kafka_sasl_password": "valora-local-only"}, "VALORA_KAFKA_SASL_PASSWORD"),
        ({"kafka_sasl_username": None}, "VALORA_KAFKA_SASL_USERNAME"),
        (
            {"database_url": "postgresql+asyncpg://valora:valora-local-only@db:5432/valora"},
            "VALORA_DATABASE_URL carries a local-only",
        ),
        ({"database_sslmode": "prefer"}, "VALORA_DATABASE_SSLMODE=prefer"),
        ({"mlflow_password": None}, "VALORA_MLFLOW_PASSWORD"),
    ],
)
def test_production_refuses_an_insecure_setting_and_names_it(
    change: dict[str, Any], names: str
) -> None:
    message = _refusal(TrainerSettings, environment="production", **{**SECURE, **change})
    assert "VALORA_ENVIRONMENT=production refuses to start" in message
    assert names in message


def test_an_unset_database_url_is_refused_outside_local() -> None:
    values = {k: v for k, v in SECURE.items() if k != "database_url"}
    assert "VALORA_DATABASE_URL is not set" in _refusal(
        PredictorSettings, environment="staging", **values
    )


def test_named_settings_allow_plaintext_where_the_network_encrypts() -> None:
    PredictorSettings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        **{
            **SECURE,
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_allow_plaintext": True,
            "database_sslmode": "disable",
            "database_allow_plaintext": True,
        },
    )


def test_kafka_only_services_need_no_database_or_mlflow() -> None:
    for cls in (IngestionSettings, ValidatorSettings, KafkaSettings):
        cls(_env_file=None, environment="production", **SECURE_KAFKA)  # type: ignore[call-arg]
    assert "VALORA_DATABASE_URL" in _refusal(
        DriftSettings, environment="production", **SECURE_KAFKA
    )


@pytest.mark.parametrize(
    "cls", [TrainerSettings, PredictorSettings, GatewaySettings, DriftSettings]
)
def test_services_that_use_postgres_and_mlflow_declare_them(cls: type[ValoraSettings]) -> None:
    assert cls.uses == {"kafka", "database", "mlflow"}


def test_the_sslmode_reaches_every_driver() -> None:
    settings = TrainerSettings(_env_file=None, **SECURE_DB)  # type: ignore[call-arg]
    assert settings.database_url_str.endswith("?ssl=verify-full")
    assert settings.sync_database_url.endswith("?sslmode=verify-full")
    from valora_db.engine import libpq_dsn

    assert libpq_dsn(settings.database_url_str).endswith("?sslmode=verify-full")
