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


def test_create_topics_makes_one_reply_topic_per_gateway_replica(
    devstack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import uuid

    from valora_contracts import reply_topic
    from valora_messaging import KafkaSettings, missing_topics

    prefix = f"gw{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("VALORA_KAFKA_BOOTSTRAP_SERVERS", devstack.kafka_bootstrap_servers)
    monkeypatch.setenv("VALORA_OPS_GATEWAY_INSTANCE_PREFIX", prefix)
    result = CliRunner().invoke(app, ["ops", "create-topics", "--gateway-replicas", "3"])
    assert result.exit_code == 0, result.output
    wanted = [reply_topic(f"{prefix}-{n}") for n in range(3)]
    settings = KafkaSettings(kafka_bootstrap_servers=devstack.kafka_bootstrap_servers)
    assert asyncio.run(missing_topics(settings=settings, topics=wanted)) == []
    assert "created 3 topics" in result.output


def test_migrate_gives_each_service_only_its_own_tables(
    devstack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's role reads predictions and writes batch jobs, and nothing else: it cannot
    write predictions, read the training store, or create a table."""
    import secrets

    import psycopg
    from valora_db import libpq_dsn
    from valora_devstack.settings import parse_pg_url

    password = f"gw-{secrets.token_hex(8)}"
    monkeypatch.setenv("VALORA_DATABASE_URL", devstack.database_url)
    monkeypatch.setenv("VALORA_DB_PASSWORD_GATEWAY", password)
    result = CliRunner().invoke(app, ["ops", "migrate"])
    assert result.exit_code == 0, result.output
    assert "valora_gateway" in result.output
    pg = parse_pg_url(devstack.database_url)
    dsn = libpq_dsn(
        devstack.database_url.replace(f"{pg.user}:{pg.password}@", f"valora_gateway:{password}@")
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM predictions").fetchone()
        conn.execute("SELECT count(*) FROM batch_jobs").fetchone()
        conn.execute("SELECT version_num FROM alembic_version").fetchone()  # waits for head
        job = f"roles-{secrets.token_hex(4)}"
        conn.execute(
            "INSERT INTO batch_jobs (job_id, status, input_format, total_rows) "
            "VALUES (%s, 'failed', 'csv', 0)",
            (job,),
        )
        conn.execute("DELETE FROM batch_jobs WHERE job_id = %s", (job,))
        for forbidden in (
            "INSERT INTO predictions (prediction_id) VALUES ('x')",
            "SELECT count(*) FROM training_listings",
            "CREATE TABLE valora_roles_probe (x int)",
            "DELETE FROM alembic_version",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
