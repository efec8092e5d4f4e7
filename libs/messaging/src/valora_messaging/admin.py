"""Topics: created from the registry (the ``valora ops create-topics`` job, or anything in
``local``), checked by services everywhere else.

Production owns its topics: outside ``VALORA_ENVIRONMENT=local`` a service never creates one
(:func:`prepare_topics` only checks, and :class:`TopicsExist` keeps readiness failing until
the job has created them). In ``local`` the dev stack and the services create what is missing,
so ``make run`` and the tests need no job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from valora_contracts import TopicSpec

from valora_messaging.security import kafka_security
from valora_messaging.settings import KafkaSettings

__all__ = [
    "KnownTopics",
    "TopicLister",
    "TopicsExist",
    "ensure_topics",
    "missing_topics",
    "prepare_topics",
]

logger = logging.getLogger(__name__)


def _admin(settings: KafkaSettings, *, request_timeout_ms: int) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=request_timeout_ms,
        **kafka_security(settings),
    )


def _topic_config(spec: TopicSpec, settings: KafkaSettings) -> dict[str, str]:
    config = dict(spec.config)
    if settings.kafka_topic_min_insync_replicas is not None:
        config.setdefault("min.insync.replicas", str(settings.kafka_topic_min_insync_replicas))
    return config


async def ensure_topics(
    *, settings: KafkaSettings, topics: Sequence[TopicSpec], replication_factor: int | None = None
) -> list[str]:
    """Create the topics that do not exist yet, with the configured replication factor and
    ``min.insync.replicas``. Returns the names created (idempotent)."""
    factor = replication_factor or settings.kafka_topic_replication_factor
    admin = _admin(settings, request_timeout_ms=30_000)
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
                        replication_factor=factor,
                        topic_configs=_topic_config(t, settings),
                    )
                    for t in missing
                ]
            )
            logger.info("created topics", extra={"topics": [t.name for t in missing]})
        return [t.name for t in missing]
    finally:
        await admin.close()


async def missing_topics(*, settings: KafkaSettings, topics: Iterable[TopicSpec]) -> list[str]:
    """Names of ``topics`` the cluster does not have (creates nothing)."""
    lister = TopicLister(settings=settings)
    await lister.start()
    try:
        existing = set(await lister.list_topics())
    finally:
        await lister.stop()
    return sorted({t.name for t in topics} - existing)


async def prepare_topics(*, settings: KafkaSettings, topics: Sequence[TopicSpec]) -> list[str]:
    """At a service's start: in ``local`` create what is missing; elsewhere create nothing and
    return the missing names (logged; readiness stays failing, see :class:`TopicsExist`)."""
    if settings.kafka_create_topics:
        await ensure_topics(settings=settings, topics=topics)
        return []
    missing = await missing_topics(settings=settings, topics=topics)
    if missing:
        logger.error(
            "topics missing: run `valora ops create-topics` (services never create topics "
            "outside local)",
            extra={"topics": missing, "environment": settings.environment},
        )
    return missing


class TopicsExist:
    """Readiness check: every one of ``topics`` exists (a listing every ``refresh_s`` at most
    until they all do; then it stays true without asking the cluster again)."""

    def __init__(
        self, *, lister: TopicLister, topics: Iterable[TopicSpec], refresh_s: float = 5.0
    ) -> None:
        self._known = KnownTopics.from_lister(lister, refresh_s=refresh_s)
        self._names = frozenset(t.name for t in topics)
        self._ok = False

    async def __call__(self) -> bool:
        if not self._ok:
            self._ok = await self._known.existing(self._names) == self._names
        return self._ok


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

    def __init__(self, *, settings: KafkaSettings, request_timeout_ms: int = 10_000) -> None:
        self._settings = settings
        self._timeout_ms = request_timeout_ms
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        if self._admin is None:
            admin = _admin(self._settings, request_timeout_ms=self._timeout_ms)
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
