"""``valora ops`` (the deployment jobs' commands) against the real Kafka and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner
from valora_cli.main import app
from valora_contracts import ALL_TOPICS
from valora_db import head_revision

pytestmark = pytest.mark.integration


def test_create_topics_is_idempotent_and_covers_the_registry(
    devstack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALORA_KAFKA_BOOTSTRAP_SERVERS", devstack.kafka_bootstrap_servers)
    result = CliRunner().invoke(app, ["ops", "create-topics"])
    assert result.exit_code == 0, result.output
    # the dev stack created them already: a second creation is a no-op
    assert "created 0 topics: (all existed)" in result.output
    from aiokafka.admin import AIOKafkaAdminClient
    from valora_messaging import KafkaSettings, kafka_security

    async def names() -> set[str]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=devstack.kafka_bootstrap_servers, **kafka_security(KafkaSettings())
        )
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    import asyncio

    assert {t.name for t in ALL_TOPICS} <= asyncio.run(names())


def test_migrate_reports_head(devstack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALORA_DATABASE_URL", devstack.database_url)
    result = CliRunner().invoke(app, ["ops", "migrate"])
    assert result.exit_code == 0, result.output
    assert f"database at revision {head_revision()} (head {head_revision()})" in result.output
