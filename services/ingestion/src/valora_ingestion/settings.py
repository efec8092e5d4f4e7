"""Settings of the ingestion service (``VALORA_INGESTION_*`` plus the shared Kafka knobs)."""

from __future__ import annotations

from pydantic import Field
from valora_messaging import KafkaSettings

__all__ = ["IngestionSettings"]


class IngestionSettings(KafkaSettings):
    """Knobs of the ingestion service."""

    service_name: str = Field(default="ingestion", description="Name used in logs and metrics.")
    kafka_batch_max_records: int = Field(
        default=2000, ge=1, description="Records handed to the batch handler at most."
    )
    ingestion_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    ingestion_port: int = Field(default=8101, ge=0, le=65535, description="HTTP port.")
    ingestion_group_id: str = Field(default="valora-ingestion", description="Consumer group.")
    ingestion_default_source: str = Field(
        default="unknown", description="Source stamped when neither record nor header names one."
    )
    ingestion_dedupe_capacity: int = Field(
        default=200_000, ge=0, description="Recent listings remembered to drop exact repeats."
    )
    ingestion_exactly_once: bool = Field(
        default=True,
        description="Write outputs, dead letters and offsets in one Kafka transaction per input "
        "partition, fenced per partition (exactly-once for read_committed readers).",
    )
