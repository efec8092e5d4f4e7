"""FastStream ``KafkaBroker`` factory and consumer options, tuned for low latency.

Offsets are committed only after a handler returns (``AckPolicy.NACK_ON_ERROR``): an unhandled
error seeks back so the record is redelivered, never skipped. Records that can never succeed are
sent to a dead-letter topic by the handler (see :mod:`valora_messaging.dlq`) and then acked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from valora_messaging.batch import records_decoder
from valora_messaging.security import broker_security
from valora_messaging.settings import KafkaSettings
from valora_messaging.tracing import broker_middlewares

__all__ = ["batch_consumer_options", "consumer_options", "create_broker"]


def create_broker(
    *,
    settings: KafkaSettings,
    client_id: str,
    middlewares: Sequence[Any] = (),
    logger: logging.Logger | None = None,
) -> KafkaBroker:
    """A broker with idempotent ``acks=all`` producing and commit-after-processing consuming,
    authenticated and encrypted as the settings say (:func:`~valora_messaging.broker_security`)."""
    return KafkaBroker(
        settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-{client_id}",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_size,
        request_timeout_ms=30_000,
        retry_backoff_ms=100,
        graceful_timeout=settings.kafka_graceful_timeout_s,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        middlewares=broker_middlewares(middlewares),  # + Kafka telemetry while tracing is on
        logger=logger or logging.getLogger(f"valora.{client_id}.broker"),
        log_level=logging.DEBUG,
        security=broker_security(settings),
    )


def consumer_options(*, settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    """Keyword arguments for ``broker.subscriber(...)``: one record per call, low latency; the
    handler's one argument is the ``list[InRecord]`` (:func:`~valora_messaging.records_decoder`)."""
    return {
        "group_id": group_id,
        "auto_offset_reset": settings.kafka_auto_offset_reset,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "decoder": records_decoder,
    }


def batch_consumer_options(*, settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    """Keyword arguments for a batch subscriber: up to ``kafka_batch_max_records`` per call."""
    return {
        **consumer_options(settings=settings, group_id=group_id),
        "batch": True,
        "max_records": settings.kafka_batch_max_records,
        "batch_timeout_ms": settings.kafka_batch_timeout_ms,
    }
