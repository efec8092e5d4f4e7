"""``VALORA_TEST_INFRA=containers``: Kafka and PostgreSQL from testcontainers (Docker needed).

The alternative provider for machines with a Docker engine; never the only way (the default is
local processes). MLflow still runs as a local process, with a SQLite backend because the
containerised PostgreSQL is "external" to the dev stack. Needs the ``containers`` extra:
``uv sync --extra containers`` (package ``valora-devstack[containers]``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from valora_devstack.kafka import run_async
from valora_devstack.process import DevstackError
from valora_devstack.settings import DevstackSettings
from valora_devstack.stack import StackInfo, down, up

__all__ = ["KAFKA_IMAGE", "POSTGRES_IMAGE", "container_stack"]

logger = logging.getLogger(__name__)

KAFKA_IMAGE = "confluentinc/cp-kafka:7.7.1"
POSTGRES_IMAGE = "postgres:16-alpine"


@contextmanager
def container_stack(settings: DevstackSettings) -> Iterator[StackInfo]:
    """Start Kafka + PostgreSQL containers and a local MLflow; stop them all on exit."""
    try:
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise DevstackError(
            "VALORA_TEST_INFRA=containers needs testcontainers: uv sync --extra containers"
        ) from exc
    from valora_contracts import ALL_TOPICS
    from valora_db.migrate import upgrade_head
    from valora_messaging import KafkaSettings
    from valora_messaging.admin import ensure_topics

    pg = settings.pg
    started = time.monotonic()
    with (
        KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka,
        PostgresContainer(
            POSTGRES_IMAGE,
            username=pg.user,
            password=pg.password,
            dbname=pg.dbname,
            driver="asyncpg",
        ) as postgres,
    ):
        bootstrap = str(kafka.get_bootstrap_server())
        database_url = str(postgres.get_connection_url())
        kafka_settings = KafkaSettings(kafka_bootstrap_servers=bootstrap)
        run_async(lambda: ensure_topics(settings=kafka_settings, topics=ALL_TOPICS))
        upgrade_head(database_url)
        # model_copy marks these fields as set: the stack treats them as external.
        ext = settings.model_copy(
            update={
                "kafka_bootstrap_servers": bootstrap,
                "database_url": database_url,
                "manage_kafka": False,
                "manage_postgres": False,
            }
        )
        result = up(ext, only=["mlflow"])
        logger.info(
            "container stack up",
            extra={"bootstrap": bootstrap, "start_s": round(time.monotonic() - started, 1)},
        )
        try:
            yield StackInfo(bootstrap, database_url, ext.mlflow_url_str)
        finally:
            if result.started:
                down(ext, only=result.started)
