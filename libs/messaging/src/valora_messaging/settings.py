"""Kafka settings shared by every service (extend this, not ``BaseSettings``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from valora_settings import Resource, ValoraSettings

from valora_messaging.retry import RetrySettings

__all__ = ["KafkaSettings"]


class KafkaSettings(ValoraSettings):
    """Producer and consumer tuning. Defaults favour low latency on a single node."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"kafka"})

    kafka_client_id: str = Field(default="valora", description="Kafka client id prefix.")
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        description="Longest the broker holds a fetch with no data. A long poll costs no latency "
        "(the broker answers as soon as a record arrives), while a short one makes every idle "
        "consumer poll the broker hundreds of times a second.",
    )
    kafka_linger_ms: int = Field(
        default=0,
        ge=0,
        description="Producer linger. 0: a batch leaves as soon as the sender runs; records sent "
        "in one go (as every handler sends its outputs) still travel as one batch.",
    )
    kafka_max_batch_size: int = Field(
        default=256 * 1024, ge=1024, description="Producer batch size in bytes."
    )
    kafka_batch_max_records: int = Field(
        default=500, ge=1, description="Records handed to a batch handler at most."
    )
    kafka_batch_timeout_ms: int = Field(
        default=2,
        ge=0,
        description="How long an idle batch consumer waits for records per poll (a poll returns "
        "at once when records are buffered). FastStream then sleeps as long before the next "
        "poll, so this is also the most an idle consumer adds to a record's latency.",
    )
    kafka_producer_lanes: int = Field(
        default=4,
        ge=1,
        description="Producers a latency-sensitive service (gateway requests, predictor "
        "replies) sends through side by side. One aiokafka producer has one produce request in "
        "flight at a time, so with one, concurrent requests queue behind each other's "
        "acknowledgement.",
    )
    kafka_graceful_timeout_s: float = Field(
        default=15.0, gt=0, description="On shutdown, how long in-flight work may take to finish."
    )
    kafka_topic_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of topics created from the registry."
    )
    kafka_topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of topics created from the registry (unset: the "
        "broker's default).",
    )
    kafka_auto_offset_reset: str = Field(
        default="earliest", description="Where a new consumer group starts."
    )
    kafka_max_poll_interval_ms: int = Field(
        default=300_000,
        ge=10_000,
        description="Longest a consumer may spend on one batch before the group considers it "
        "dead (must exceed consumer_transient_hold_s).",
    )
    consumer_transient_initial_s: float = Field(
        default=0.5, gt=0, description="First backoff after a transient error (doubles)."
    )
    consumer_transient_max_s: float = Field(
        default=30.0, gt=0, description="Longest backoff between retries of a transient error."
    )
    consumer_transient_hold_s: float = Field(
        default=120.0,
        gt=0,
        description="How long one batch waits out transient errors before it is handed back "
        "for redelivery (the partition keeps waiting; the consumer stays in its group).",
    )
    consumer_unknown_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Tries of a batch failing with an unexpected error before the failing "
        "records are isolated and dead-lettered.",
    )
    consumer_unknown_initial_s: float = Field(
        default=4.0, gt=0, description="First backoff after an unexpected error (doubles)."
    )
    consumer_unknown_max_s: float = Field(
        default=30.0, gt=0, description="Longest backoff between retries of an unexpected error."
    )

    @property
    def kafka_create_topics(self) -> bool:
        """Whether a service creates its missing topics: only in ``local``. Everywhere else the
        ``valora ops create-topics`` job owns them and services only check they exist."""
        return self.is_local

    def retry_settings(self) -> RetrySettings:
        """The consumers' :class:`~valora_messaging.policy.RetrySettings`."""
        return RetrySettings(
            transient_initial_s=self.consumer_transient_initial_s,
            transient_max_s=self.consumer_transient_max_s,
            transient_hold_s=self.consumer_transient_hold_s,
            unknown_attempts=self.consumer_unknown_attempts,
            unknown_initial_s=self.consumer_unknown_initial_s,
            unknown_max_s=self.consumer_unknown_max_s,
        )
