"""Settings base class shared by libraries, services and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import AnyHttpUrl, Field, PostgresDsn, SecretStr, TypeAdapter, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from valora_settings.environment import (
    Environment,
    InsecureSettingsError,
    Resource,
    insecure_findings,
)

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

    uses: ClassVar[frozenset[Resource]] = frozenset()
    """The resources a process with these settings talks to (their rules apply outside local)."""

    environment: Environment = Field(
        default="local",
        description="local (dev stack, tests: local defaults accepted) | staging | production "
        "(insecure settings refused at start-up, naming the setting to change).",
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
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="Kafka security protocol of every client (SASL_SSL outside local).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="This service's Kafka principal (SASL username)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="This service's Kafka SASL password."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signs the brokers' certificates (TLS)."
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        description="Outside local, accept an unencrypted Kafka connection (SASL_PLAINTEXT).",
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
    database_sslmode: (
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None
    ) = Field(
        default=None,
        description="TLS mode of PostgreSQL connections (libpq sslmode; unset: the URL's or "
        "the driver's default). Outside local: require, verify-ca or verify-full.",
    )
    database_allow_plaintext: bool = Field(
        default=False, description="Outside local, accept an unencrypted PostgreSQL connection."
    )
    mlflow_tracking_uri: AnyHttpUrl = Field(
        default=_HTTP.validate_python(LOCAL_MLFLOW_URL),
        description="URL of the MLflow tracking server.",
    )
    mlflow_username: str | None = Field(
        default=None, description="This service's MLflow user (MLflow basic authentication)."
    )
    mlflow_password: SecretStr | None = Field(
        default=None, description="This service's MLflow password."
    )
    mlflow_allow_anonymous: bool = Field(
        default=False, description="Outside local, talk to MLflow without credentials."
    )
    model_name: str = Field(
        default="valora-price", description="Registered MLflow model name served as champion."
    )

    @model_validator(mode="after")
    def _fail_closed(self) -> ValoraSettings:
        if self.environment != "local":
            findings = self.insecure_settings()
            if findings:
                raise InsecureSettingsError(
                    f"VALORA_ENVIRONMENT={self.environment} refuses to start: "
                    + "; ".join(findings)
                )
        return self

    def insecure_settings(self) -> list[str]:
        """Insecure settings of the resources in :attr:`uses` (subclasses add their own)."""
        return insecure_findings(self, self.uses)

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    @property
    def database_url_is_local(self) -> bool:
        """True when no database URL was configured, so the dev stack owns PostgreSQL."""
        return "database_url" not in self.model_fields_set

    @property
    def kafka_bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @property
    def database_url_str(self) -> str:
        """The SQLAlchemy asyncpg URL, with ``ssl=<database_sslmode>`` when that is set."""
        url = str(self.database_url)
        if self.database_sslmode is None:
            return url
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("ssl", "sslmode")]
        query.append(("ssl", self.database_sslmode))
        return urlunsplit(parts._replace(query=urlencode(query)))

    @property
    def mlflow_url_str(self) -> str:
        return str(self.mlflow_tracking_uri).rstrip("/")
