"""``valora ops``: one-shot operations for deployments (compose jobs, Kubernetes Jobs).

``create-topics`` is the one thing that creates topics outside ``VALORA_ENVIRONMENT=local``
(services only check theirs): every registry topic, plus the reply topic of each gateway
replica ``<prefix>-0`` .. ``<prefix>-<n-1>`` (a StatefulSet's pod names), so reply topics are
a fixed set rather than one per pod ever started.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, ClassVar

import typer
from pydantic import Field, SecretStr
from rich.console import Console
from valora_contracts import ALL_TOPICS, TopicSpec, reply_topic
from valora_db import create_engine, current_revision, head_revision, upgrade_head
from valora_db.roles import OWNERS, apply_service_roles
from valora_messaging import KafkaSettings, ensure_topics
from valora_settings import Resource

from valora_cli.ops_mlflow import MlflowUsersSettings, ensure_mlflow_users

app = typer.Typer(help="One-shot operations: create topics, migrate the database.")
console = Console()


class TopicJobSettings(KafkaSettings):
    """What ``create-topics`` reads (Kafka only)."""

    ops_gateway_replicas: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Reply topics to create, one per gateway replica (StatefulSet ordinal); at "
        "least the gateway's largest replica count.",
    )
    ops_gateway_instance_prefix: str = Field(
        default="gateway", description="Gateway instance id before '-<ordinal>' (pod name)."
    )

    def reply_topics(self) -> list[TopicSpec]:
        prefix = self.ops_gateway_instance_prefix
        return [reply_topic(f"{prefix}-{n}") for n in range(self.ops_gateway_replicas)]


class MigrateSettings(KafkaSettings):
    """What ``migrate`` reads (the database only, as its owner), and the passwords of the
    services' least-privilege roles (:mod:`valora_db.roles`)."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"database"})

    db_password_trainer: SecretStr | None = Field(
        default=None, description="Password of role valora_trainer (unset: NOLOGIN)."
    )
    db_password_predictor: SecretStr | None = Field(
        default=None, description="Password of role valora_predictor (unset: NOLOGIN)."
    )
    db_password_gateway: SecretStr | None = Field(
        default=None, description="Password of role valora_gateway (unset: NOLOGIN)."
    )
    db_password_drift_monitor: SecretStr | None = Field(
        default=None, description="Password of role valora_drift_monitor (unset: NOLOGIN)."
    )
    optuna_schema: str = Field(default="optuna", description="The trainer's Optuna schema.")

    def role_passwords(self) -> dict[str, str]:
        out = {}
        for service in OWNERS:
            secret = getattr(self, f"db_password_{service}")
            if secret is not None and secret.get_secret_value():
                out[service] = secret.get_secret_value()
        return out


async def _apply_roles(settings: MigrateSettings) -> list[str]:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await apply_service_roles(
                conn, passwords=settings.role_passwords(), optuna_schema=settings.optuna_schema
            )
    finally:
        await engine.dispose()


JOB_SETTINGS = (TopicJobSettings, MigrateSettings, MlflowUsersSettings)
"""What the one-shot jobs read (``valora describe`` lists their env names)."""


@app.command("create-topics")
def create_topics(
    replication_factor: Annotated[
        int | None,
        typer.Option(
            min=1, help="Replication factor of new topics (VALORA_KAFKA_TOPIC_REPLICATION_FACTOR)."
        ),
    ] = None,
    gateway_replicas: Annotated[
        int | None,
        typer.Option(
            min=0, help="Reply topics for this many gateway replicas (VALORA_OPS_GATEWAY_REPLICAS)."
        ),
    ] = None,
) -> None:
    """Create every registry topic (and gateway reply topic) that does not exist yet
    (idempotent), with the configured replication factor and min.insync.replicas."""
    settings = TopicJobSettings()
    if gateway_replicas is not None:
        settings = settings.model_copy(update={"ops_gateway_replicas": gateway_replicas})
    created = asyncio.run(
        ensure_topics(
            settings=settings,
            topics=[*ALL_TOPICS, *settings.reply_topics()],
            replication_factor=replication_factor,
        )
    )
    console.print(f"created {len(created)} topics: {', '.join(created) or '(all existed)'}")


@app.command()
def migrate(
    roles: Annotated[
        bool,
        typer.Option(
            help="Also create (or update) each service's least-privilege role and its grants "
            "(needs CREATEROLE; --no-roles where an operator manages roles)."
        ),
    ] = True,
) -> None:
    """Apply every Alembic migration up to head, then the services' roles (idempotent)."""
    settings = MigrateSettings()
    url = settings.database_url_str
    upgrade_head(url)
    revision = asyncio.run(current_revision(url))
    console.print(f"database at revision {revision} (head {head_revision()})")
    if roles:
        names = asyncio.run(_apply_roles(settings))
        console.print(f"service roles: {', '.join(names)}")


@app.command("mlflow-users")
def mlflow_users() -> None:
    """Create (or update) each service's MLflow user on a server with basic auth (run as the
    MLflow admin; only the trainer, the registered model's owner, may move its alias)."""
    users = ensure_mlflow_users(MlflowUsersSettings())
    console.print(f"mlflow users: {', '.join(users) or '(none: no passwords set)'}")
