"""Topic creation from the registry with the Kafka admin client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from valora_contracts import TopicSpec

__all__ = ["KnownTopics", "TopicLister", "ensure_topics"]

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


class KnownTopics:
    """Which topics exist, from a cached listing of the cluster's topics.

    A name not in the cache triggers a fresh listing at most every ``refresh_s`` (a flood of
    records naming missing topics costs one metadata request per interval, not one each).
    Listing all topics never auto-creates one, unlike a metadata request for a single name.
    """

    def __init__(
        self, *, lister: Callable[[], Awaitable[Iterable[str]]], refresh_s: float = 5.0
    ) -> None:
        self._lister = lister
        self._refresh_s = refresh_s
        self._known: frozenset[str] = frozenset()
        self._listed_at = -float("inf")
        self._lock = asyncio.Lock()

    @classmethod
    def from_lister(cls, lister: TopicLister, *, refresh_s: float = 5.0) -> KnownTopics:
        return cls(lister=lister.list_topics, refresh_s=refresh_s)

    async def existing(self, names: Iterable[str]) -> set[str]:
        """The subset of ``names`` that exist."""
        wanted = set(names)
        if wanted - self._known:
            async with self._lock:
                if wanted - self._known and time.monotonic() - self._listed_at >= self._refresh_s:
                    self._known = frozenset(await self._lister())
                    self._listed_at = time.monotonic()
        return wanted & self._known

    def forget(self, name: str) -> None:
        """A send to ``name`` failed as unknown: ask the cluster again next time."""
        self._known = self._known - {name}


class TopicLister:
    """Lists the cluster's topics with an admin client created (inside the running loop) on
    :meth:`start` and closed on :meth:`stop`."""

    def __init__(self, *, bootstrap_servers: str, request_timeout_ms: int = 10_000) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout_ms = request_timeout_ms
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, request_timeout_ms=self._timeout_ms
            )
            await admin.start()
            self._admin = admin

    async def stop(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    async def list_topics(self) -> list[str]:
        if self._admin is None:
            raise RuntimeError("TopicLister is not started")
        return list(await self._admin.list_topics())
