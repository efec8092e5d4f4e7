"""Settings base class shared by libraries, services and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, PostgresDsn, TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

# Local-development defaults only: they point at the private dev stack that
# ``valora stack up`` starts on non-default ports. The password below is a
# clearly-marked LOCAL DEFAULT for a loopback-only cluster, never a real secret.
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
LOCAL_DATABASE_URL = "postgresql+asyncpg://valora:valora-local-only@127.0.0.1:15432/valora"
LOCAL_MLFLOW_URL = "http://127.0.0.1:15000"

_DSN = TypeAdapter(PostgresDsn)
_HTTP = TypeAdapter(AnyHttpUrl)


class ValoraSettings(BaseSettings):
    """Base settings: every field reads ``VALORA_<FIELD>`` from the environment or ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="VALORA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Literal["local", "dev", "staging", "prod"] = Field(
        default="local", description="Deployment environment name."
    )
    service_name: str = Field(default="valora", description="Name used in logs and metrics.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Root log level."
    )
    log_json: bool = Field(default=True, description="Emit one JSON object per log line.")
    state_dir: Path = Field(
        default=Path(".valora"),
        description="Directory for local state, logs and data of the dev stack.",
    )
    kafka_bootstrap_servers: str = Field(
        default=LOCAL_KAFKA_BOOTSTRAP,
        description="Comma-separated Kafka bootstrap servers (host:port).",
    )
    database_url: PostgresDsn = Field(
        default=_DSN.validate_python(LOCAL_DATABASE_URL),
        description="SQLAlchemy async URL of PostgreSQL (postgresql+asyncpg://...). "
        "When unset, the dev stack runs a private cluster.",
    )
    database_command_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Longest one PostgreSQL statement may run; a hung database is then a "
        "transient error (retried with backoff), never a stalled consumer.",
    )
    database_acquire_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest a caller waits for a pooled PostgreSQL connection (or to connect).",
    )
    mlflow_tracking_uri: AnyHttpUrl = Field(
        default=_HTTP.validate_python(LOCAL_MLFLOW_URL),
        description="URL of the MLflow tracking server.",
    )
    model_name: str = Field(
        default="valora-price", description="Registered MLflow model name served as champion."
    )

    @property
    def database_url_is_local(self) -> bool:
        """True when no database URL was configured, so the dev stack owns PostgreSQL."""
        return "database_url" not in self.model_fields_set

    @property
    def kafka_bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @property
    def database_url_str(self) -> str:
        return str(self.database_url)

    @property
    def mlflow_url_str(self) -> str:
        return str(self.mlflow_tracking_uri).rstrip("/")
