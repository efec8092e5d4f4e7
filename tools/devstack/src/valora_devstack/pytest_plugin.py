"""pytest plugin: the session-scoped ``devstack`` fixture (register it in a conftest.py with
``pytest_plugins = ["valora_devstack.pytest_plugin"]``).

The fixture brings the stack up with the same code as ``valora stack up`` (reusing whatever is
already running), returns a :class:`~valora_devstack.stack.StackInfo`, and at session end stops
only the components it started itself. ``VALORA_DEVSTACK_KEEP=1`` keeps them running for the
next session; ``VALORA_TEST_INFRA=containers`` uses testcontainers for Kafka and PostgreSQL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from valora_devstack.settings import DevstackSettings
from valora_devstack.stack import INFRASTRUCTURE, StackInfo, down, services_paused, up

__all__ = ["devstack", "devstack_settings"]

logger = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def devstack_settings() -> DevstackSettings:
    return DevstackSettings()


@pytest.fixture(scope="session")
def devstack(devstack_settings: DevstackSettings) -> Iterator[StackInfo]:
    """Real Kafka, PostgreSQL and MLflow for the test session."""
    settings = devstack_settings
    if settings.test_infra == "containers":
        from valora_devstack.containers import container_stack

        with pytest.MonkeyPatch.context() as mp, container_stack(settings) as info:
            # Code under test builds its own settings from the environment.
            mp.setenv("VALORA_KAFKA_BOOTSTRAP_SERVERS", info.kafka_bootstrap_servers)
            mp.setenv("VALORA_DATABASE_URL", info.database_url)
            mp.setenv("VALORA_MLFLOW_TRACKING_URI", info.mlflow_tracking_uri)
            yield info
        return
    # Tests run their own service instances: pause the stack's (e.g. from `make run`) so they
    # do not consume the tests' records; they start again after the session.
    with services_paused(settings):
        result = up(settings, only=INFRASTRUCTURE)
        try:
            yield result.info
        finally:
            keep = os.environ.get("VALORA_DEVSTACK_KEEP", "").lower() in ("1", "true", "yes")
            if result.started and not keep:
                down(settings, only=result.started)
