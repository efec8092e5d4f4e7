"""``valora ops``: one-shot operations for deployments (compose jobs, Kubernetes Jobs)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from valora_contracts import ALL_TOPICS
from valora_db import current_revision, head_revision, upgrade_head
from valora_messaging import KafkaSettings, ensure_topics

app = typer.Typer(help="One-shot operations: create topics, migrate the database.")
console = Console()


@app.command("create-topics")
def create_topics(
    replication_factor: Annotated[
        int | None,
        typer.Option(
            min=1, help="Replication factor of new topics (VALORA_KAFKA_TOPIC_REPLICATION_FACTOR)."
        ),
    ] = None,
) -> None:
    """Create every registry topic that does not exist yet (idempotent)."""
    settings = KafkaSettings()
    created = asyncio.run(
        ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=ALL_TOPICS,
            replication_factor=replication_factor or settings.kafka_topic_replication_factor,
        )
    )
    console.print(f"created {len(created)} topics: {', '.join(created) or '(all existed)'}")


@app.command()
def migrate() -> None:
    """Apply every Alembic migration up to head (idempotent)."""
    settings = KafkaSettings()
    url = settings.database_url_str
    upgrade_head(url)
    revision = asyncio.run(current_revision(url))
    console.print(f"database at revision {revision} (head {head_revision()})")
