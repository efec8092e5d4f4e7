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
from pydantic import Field
from rich.console import Console
from valora_contracts import ALL_TOPICS, TopicSpec, reply_topic
from valora_db import current_revision, head_revision, upgrade_head
from valora_messaging import KafkaSettings, ensure_topics
from valora_settings import Resource

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
    """What ``migrate`` reads (the database only)."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"database"})


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
def migrate() -> None:
    """Apply every Alembic migration up to head (idempotent)."""
    settings = MigrateSettings()
    url = settings.database_url_str
    upgrade_head(url)
    revision = asyncio.run(current_revision(url))
    console.print(f"database at revision {revision} (head {head_revision()})")
