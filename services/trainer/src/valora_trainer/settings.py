"""Trainer settings: ``VALORA_``-prefixed environment variables (see ``ValoraSettings``).

Search spaces, split fractions, triggers and gates live in the YAML training config
(:mod:`valora_trainer.config`), not here: ``VALORA_TRAINING_CONFIG`` points at an override.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field
from valora_messaging import KafkaSettings
from valora_settings import Resource

__all__ = ["TrainerSettings"]


class TrainerSettings(KafkaSettings):
    """Settings of the trainer service."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"kafka", "database", "mlflow"})

    service_name: str = Field(default="trainer", description="Name used in logs and metrics.")
    trainer_host: str = Field(default="127.0.0.1", description="Bind address of /metrics, /health.")
    trainer_port: int = Field(default=8103, ge=1, le=65535, description="HTTP port.")
    training_config: Path | None = Field(
        default=None, description="YAML training config overriding the packaged default."
    )
    trainer_group_id: str = Field(default="valora-trainer", description="Kafka consumer group.")
    training_sources: list[str] = Field(
        default_factory=list,
        description="Only store listings from these sources (empty: every source).",
    )
    mlflow_experiment: str | None = Field(
        default=None, description="MLflow experiment (default: 'valora-training/<model_name>')."
    )
    optuna_schema: str = Field(
        default="optuna",
        description="PostgreSQL schema of the Optuna study tables (kept apart from Alembic's).",
    )
    runner_poll_s: float = Field(
        default=2.0, gt=0, description="How often the runner looks for pending requests."
    )

    @property
    def experiment_name(self) -> str:
        return self.mlflow_experiment or f"valora-training/{self.model_name}"

    @property
    def sync_database_url(self) -> str:
        """``database_url`` with the psycopg (v3, sync) driver, for Optuna and sync steps."""
        parts = urlsplit(self.database_url_str)
        scheme = parts.scheme.split("+", 1)[0] + "+psycopg"
        # asyncpg's ``ssl=<mode>`` is libpq's (psycopg's) ``sslmode=<mode>``.
        query = urlencode([("sslmode" if k == "ssl" else k, v) for k, v in parse_qsl(parts.query)])
        return urlunsplit((scheme, parts.netloc, parts.path, query, parts.fragment))
