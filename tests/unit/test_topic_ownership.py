"""Production owns its topics: outside local a service never creates one, it only checks, and
its readiness fails until the ``valora ops create-topics`` job made them; in local the service
creates what is missing (the dev stack, the tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from valora_contracts import LISTINGS_INGESTED, LISTINGS_RAW, TopicSpec
from valora_messaging import KafkaSettings, TopicsExist, admin, prepare_topics

pytestmark = pytest.mark.unit

SECURE: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "a-password-from-the-store",
}


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    async def ensure(
        *, settings: KafkaSettings, topics: Sequence[TopicSpec], **_: Any
    ) -> list[str]:
        calls.append([t.name for t in topics])
        return []

    async def missing(*, settings: KafkaSettings, topics: Sequence[TopicSpec]) -> list[str]:
        return [LISTINGS_INGESTED.name]

    monkeypatch.setattr(admin, "ensure_topics", ensure)
    monkeypatch.setattr(admin, "missing_topics", missing)
    return calls


async def test_outside_local_a_service_creates_no_topic_and_reports_the_missing(
    created: list[list[str]],
) -> None:
    settings = KafkaSettings(_env_file=None, environment="production", **SECURE)  # type: ignore[call-arg]
    missing = await prepare_topics(settings=settings, topics=[LISTINGS_RAW, LISTINGS_INGESTED])
    assert missing == [LISTINGS_INGESTED.name]
    assert created == []


async def test_in_local_a_service_creates_what_is_missing(created: list[list[str]]) -> None:
    settings = KafkaSettings(_env_file=None)  # type: ignore[call-arg]
    assert await prepare_topics(settings=settings, topics=[LISTINGS_RAW]) == []
    assert created == [[LISTINGS_RAW.name]]


class GrowingCluster:
    """A lister whose cluster gains topics over time (the job runs after the service)."""

    def __init__(self) -> None:
        self.topics: list[str] = [LISTINGS_RAW.name]
        self.listings = 0

    async def list_topics(self) -> list[str]:
        self.listings += 1
        return list(self.topics)


async def test_readiness_fails_until_every_topic_exists_then_stops_asking() -> None:
    cluster = GrowingCluster()
    ready = TopicsExist(lister=cluster, topics=[LISTINGS_RAW, LISTINGS_INGESTED], refresh_s=0)  # type: ignore[arg-type]
    assert not await ready()
    cluster.topics.append(LISTINGS_INGESTED.name)  # `valora ops create-topics` ran
    assert await ready()
    asked = cluster.listings
    assert await ready()
    assert cluster.listings == asked  # once all exist, no more metadata requests


def test_every_consuming_service_checks_its_topics_for_readiness() -> None:
    import inspect

    from valora_messaging import app

    source = inspect.getsource(app.consumer_app)
    assert '"topics": topics_exist' in source
    assert "prepare_topics(" in source
    assert "ensure_topics(" not in source
