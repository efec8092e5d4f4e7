"""Kafka settings shared by every service (extend this, not ``BaseSettings``)."""

from __future__ import annotations

from pydantic import Field
from valora_settings import ValoraSettings

__all__ = ["KafkaSettings"]


class KafkaSettings(ValoraSettings):
    """Producer and consumer tuning. Defaults favour low latency on a single node."""

    kafka_client_id: str = Field(default="valora", description="Kafka client id prefix.")
    kafka_fetch_max_wait_ms: int = Field(
        default=5,
        ge=0,
        description="Longest a fetch waits for data. aiokafka's 500 ms default would add up to "
        "half a second to every request-reply round trip.",
    )
    kafka_linger_ms: int = Field(
        default=1, ge=0, description="Producer linger: tiny, so batches form without delay."
    )
    kafka_max_batch_size: int = Field(
        default=256 * 1024, ge=1024, description="Producer batch size in bytes."
    )
    kafka_batch_max_records: int = Field(
        default=500, ge=1, description="Records handed to a batch handler at most."
    )
    kafka_batch_timeout_ms: int = Field(
        default=20, ge=0, description="Longest a batch consumer waits to fill a batch."
    )
    kafka_graceful_timeout_s: float = Field(
        default=15.0, gt=0, description="On shutdown, how long in-flight work may take to finish."
    )
    kafka_topic_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of topics created from the registry."
    )
    kafka_auto_offset_reset: str = Field(
        default="earliest", description="Where a new consumer group starts."
    )
