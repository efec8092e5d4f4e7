"""Settings of the predictor service (``VALORA_PREDICTOR_*`` plus the shared Kafka knobs)."""

from __future__ import annotations

import os
import socket
from typing import ClassVar

from pydantic import Field
from valora_messaging import KafkaSettings
from valora_settings import Resource

__all__ = ["PredictorSettings"]


class PredictorSettings(KafkaSettings):
    """Knobs of the predictor service."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"kafka", "database", "mlflow"})

    service_name: str = Field(default="predictor", description="Name used in logs and metrics.")
    kafka_batch_max_records: int = Field(
        default=2000, ge=1, description="Records handed to a batch handler at most."
    )
    predictor_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    predictor_port: int = Field(default=8104, ge=0, le=65535, description="HTTP port.")
    predictor_group_id: str = Field(
        default="valora-predictor", description="Consumer group of prediction requests."
    )
    predictor_stream_group_id: str = Field(
        default="valora-predictor-stream", description="Consumer group of validated listings."
    )
    predictor_request_consumers: int = Field(
        default=3,
        ge=1,
        description="Consumers of prediction requests in this process (one group): batches of "
        "different partitions are handled concurrently, so one batch's database and Kafka "
        "round trips overlap another's work. More than the topic's partitions sit idle.",
    )
    predictor_stream_consumers: int = Field(
        default=2, ge=1, description="Consumers of validated listings in this process (ditto)."
    )
    predictor_stream_enabled: bool = Field(
        default=True, description="Value every validated listing (listings.validated.v1)."
    )
    predictor_instance_id: str | None = Field(
        default=None, description="Name of this instance in logs; default: hostname-pid."
    )
    predictor_champion_poll_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the champion alias is re-read (a safety net besides "
        "models.promoted.v1, and how a first champion is found).",
    )
    predictor_no_champion_poll_s: float = Field(
        default=2.0, gt=0, description="Alias poll interval while no champion is loaded."
    )
    predictor_stream_exactly_once: bool = Field(
        default=True,
        description="Publish a streamed batch's predictions.made.v1 events, dead letters and "
        "offsets in one transaction per input partition (fenced per partition): a replica that "
        "lost its partitions cannot publish them twice. Rows are idempotent either way.",
    )
    predictor_stream_chunk_rows: int = Field(
        default=500,
        ge=1,
        description="A stream batch is valued in chunks of this many rows, concurrently.",
    )
    predictor_commit_interval_ms: int = Field(
        default=200,
        ge=0,
        description="Offsets of handled batches are committed in the background at most this "
        "often (one OffsetCommit per interval instead of one per batch; after a crash up to "
        "this much is delivered again and absorbed by the idempotent store). 0: commit after "
        "every batch.",
    )
    predictor_shadow_enabled: bool = Field(
        default=True,
        description="Value every input with the challenger too, when one is aliased "
        "(stored in shadow_predictions and published to predictions.shadow.v1, never answered).",
    )
    predictor_db_pool_size: int = Field(default=5, ge=1, description="PostgreSQL pool size.")

    @property
    def instance_id(self) -> str:
        return self.predictor_instance_id or f"{socket.gethostname()}-{os.getpid()}"
