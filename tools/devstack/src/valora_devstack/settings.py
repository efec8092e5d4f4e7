"""Dev-stack settings: ValoraSettings plus the knobs only the local stack needs.

Addresses (ports, user, password, database name) are never configured twice: they are derived
from ``kafka_bootstrap_servers``, ``database_url`` and ``mlflow_tracking_uri`` of ValoraSettings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from valora_settings.base import ValoraSettings

__all__ = ["DevstackSettings", "HostPort", "PgUrl", "is_loopback", "parse_pg_url"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PgUrl:
    """The parts of a PostgreSQL URL the dev stack needs."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    def sqlalchemy(self, driver: str = "psycopg", dbname: str | None = None) -> str:
        from urllib.parse import quote

        return (
            f"postgresql+{driver}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{dbname or self.dbname}"
        )


def parse_pg_url(url: str) -> PgUrl:
    parts = urlsplit(url)
    return PgUrl(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
    )


class DevstackSettings(ValoraSettings):
    """Settings of ``valora_devstack`` (env prefix ``VALORA_``; ``KAFKA_HOME`` is read as is)."""

    model_config = SettingsConfigDict(populate_by_name=True)

    kafka_version: str = Field(default="4.1.1", description="Pinned Apache Kafka version.")
    kafka_home: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_HOME", "VALORA_KAFKA_HOME"),
        description="An existing Kafka distribution; its libs/*.jar are used instead of Maven.",
    )
    cache_dir: Path = Field(
        default=Path("~/.cache/valora"),
        description="Cache for downloaded artefacts (Kafka jars under kafka-<version>/libs).",
    )
    kafka_controller_port: int = Field(default=19093, description="KRaft controller port.")
    kafka_heap: str = Field(default="512m", description="JVM -Xmx of the dev broker.")
    manage_kafka: bool | None = Field(
        default=None,
        description="Run a local broker. Default: when the bootstrap is one loopback address.",
    )
    manage_postgres: bool | None = Field(
        default=None,
        description="Run a private PostgreSQL. Default: when VALORA_DATABASE_URL is not set.",
    )
    mlflow_backend_store_uri: str | None = Field(
        default=None,
        description="MLflow backend store. Default: the 'mlflow' database of the private "
        "PostgreSQL, or SQLite under the state dir when PostgreSQL is external.",
    )
    service_port_offset: int = Field(
        default=0,
        ge=0,
        le=50000,
        description="Added to every Valora service's port (run a second stack beside the first).",
    )
    log_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=4096,
        description="Size at which each component's log file rotates (services, Kafka, "
        "PostgreSQL, MLflow); passed to the services as VALORA_LOG_MAX_BYTES.",
    )
    log_backups: int = Field(default=3, ge=0, description="Rotated log files kept per log.")
    crash_log_max_bytes: int = Field(
        default=1024 * 1024,
        ge=4096,
        description="Size bound of a service's <name>.stdout.log (output outside logging).",
    )
    # ---- monitoring (Prometheus + Alertmanager, Debian packages: `make monitoring`) ---------
    prometheus_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Prometheus's port. Default: 19090 + service_port_offset.",
    )
    alertmanager_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Alertmanager's port. Default: 19094 + service_port_offset.",
    )
    prometheus_bin: str = Field(default="prometheus", description="Prometheus binary.")
    alertmanager_bin: str = Field(
        default="prometheus-alertmanager",
        description="Alertmanager binary (Debian's name; 'alertmanager' is tried too).",
    )
    monitoring_sources: Path | None = Field(
        default=None,
        description="Directory holding prometheus/rules/valora.yml and "
        "alertmanager/alertmanager.yml. Default: the repository's compose/ directory.",
    )
    prometheus_scrape_interval_s: float = Field(default=10.0, gt=0, le=300)
    prometheus_evaluation_interval_s: float = Field(default=15.0, gt=0, le=300)
    prometheus_retention: str = Field(default="2d", description="TSDB retention (time).")
    prometheus_retention_size: str = Field(default="512MB", description="TSDB size bound.")
    alert_webhook_url: str | None = Field(
        default=None,
        description="Where the dev stack's Alertmanager posts notifications (e.g. "
        "`valora alerts webhook` on http://127.0.0.1:9095/alerts). Unset: none are sent "
        "(alerts still show in Alertmanager).",
    )
    alertmanager_group_wait_s: float | None = Field(
        default=None, gt=0, description="Overrides the routing file's group_wait."
    )
    alertmanager_group_interval_s: float | None = Field(
        default=None, gt=0, description="Overrides the routing file's group_interval."
    )
    alertmanager_repeat_interval_s: float | None = Field(
        default=None, gt=0, description="Overrides the routing file's repeat_interval."
    )
    monitoring_start_timeout_s: float = Field(default=60.0, gt=0)

    kafka_start_timeout_s: float = Field(default=120.0, gt=0)
    postgres_start_timeout_s: float = Field(default=60.0, gt=0)
    mlflow_start_timeout_s: float = Field(default=120.0, gt=0)
    stop_timeout_s: float = Field(default=30.0, gt=0)
    test_infra: Literal["local", "containers"] = Field(
        default="local",
        validation_alias=AliasChoices("VALORA_TEST_INFRA"),
        description="'containers' makes the pytest fixture use testcontainers (Docker needed).",
    )

    # ---- derived -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.state_dir.expanduser().resolve()

    @property
    def cache_path(self) -> Path:
        return self.cache_dir.expanduser().resolve()

    @property
    def run_dir(self) -> Path:
        return self.state_path / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_path / "logs"

    @property
    def kafka_address(self) -> HostPort:
        first = self.kafka_bootstrap_list[0] if self.kafka_bootstrap_list else "127.0.0.1:9092"
        host, _, port = first.rpartition(":")
        return HostPort(host or "127.0.0.1", int(port))

    @property
    def kafka_is_managed(self) -> bool:
        if self.manage_kafka is not None:
            return self.manage_kafka
        return len(self.kafka_bootstrap_list) == 1 and is_loopback(self.kafka_address.host)

    @property
    def pg(self) -> PgUrl:
        return parse_pg_url(self.database_url_str)

    @property
    def postgres_is_managed(self) -> bool:
        if self.manage_postgres is not None:
            return self.manage_postgres and is_loopback(self.pg.host)
        return self.database_url_is_local

    @property
    def mlflow_address(self) -> HostPort:
        parts = urlsplit(self.mlflow_url_str)
        return HostPort(parts.hostname or "127.0.0.1", parts.port or 80)

    @property
    def prometheus_address(self) -> HostPort:
        return HostPort("127.0.0.1", self.prometheus_port or 19090 + self.service_port_offset)

    @property
    def alertmanager_address(self) -> HostPort:
        return HostPort("127.0.0.1", self.alertmanager_port or 19094 + self.service_port_offset)

    @property
    def mlflow_backend_uri(self) -> str:
        if self.mlflow_backend_store_uri:
            return self.mlflow_backend_store_uri
        if self.postgres_is_managed:
            return self.pg.sqlalchemy("psycopg", dbname="mlflow")
        return f"sqlite:///{self.state_path / 'mlflow' / 'mlflow.db'}"
