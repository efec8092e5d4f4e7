"""Topic creation from the registry with the Kafka admin client."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from valora_contracts import TopicSpec

__all__ = ["ensure_topics"]

logger = logging.getLogger(__name__)


async def ensure_topics(
    *, bootstrap_servers: str, topics: Sequence[TopicSpec], replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet. Returns the names created (idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=t.name,
                        num_partitions=t.partitions,
                        replication_factor=replication_factor,
                        topic_configs=dict(t.config),
                    )
                    for t in missing
                ]
            )
            logger.info("created topics", extra={"topics": [t.name for t in missing]})
        return [t.name for t in missing]
    finally:
        await admin.close()
