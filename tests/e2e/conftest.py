"""Fixtures of the e2e and fault tests: one isolated dev stack for the session (see
:mod:`e2e_support`), and per-test service management (everything a test started is stopped)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator

import pytest
from e2e_support import Services, e2e_settings
from valora_devstack import DevstackSettings, down, up
from valora_devstack.kafka import KafkaBroker
from valora_devstack.stack import INFRASTRUCTURE


def _fresh_kafka_log(settings: DevstackSettings) -> None:
    """Start each session's broker from an empty log (unless one is still running, kept by
    ``VALORA_E2E_KEEP``). The fault tests kill -9 the broker; a log carried through many such
    sessions ends up with partitions whose in-sync replica set is empty, and the transactional
    producers then get NotEnoughReplicas for minutes. Each run uses its own groups and names,
    so nothing of an earlier session is needed."""
    kafka = KafkaBroker(settings)
    if kafka.current_pid() is None and not kafka.healthy():
        shutil.rmtree(kafka.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def e2e_stack() -> Iterator[DevstackSettings]:
    settings = e2e_settings()
    _fresh_kafka_log(settings)
    started = time.monotonic()
    result = up(settings, only=INFRASTRUCTURE)
    print(f"\n[e2e] infrastructure up in {time.monotonic() - started:.1f}s: {result.seconds}")
    try:
        yield settings
    finally:
        keep = os.environ.get("VALORA_E2E_KEEP", "").lower() in ("1", "true", "yes")
        # Services first (whatever a failed test left), then the infrastructure.
        down(settings, only=[s for s in _service_names(settings)])
        if not keep:
            down(settings, only=INFRASTRUCTURE)


def _service_names(settings: DevstackSettings) -> list[str]:
    from valora_devstack.stack import components

    return [c.name for c in components(settings) if c.name not in INFRASTRUCTURE]


@pytest.fixture
def run_id() -> str:
    return f"e2e{uuid.uuid4().hex[:8]}"


@pytest.fixture
def services() -> Iterator[Services]:
    managed = Services()
    try:
        yield managed
    finally:
        managed.stop_all()
