"""Settings base, structured logging, metrics and health helpers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from valora_observability import ServiceMetrics, configure_logging, health_app, metrics_app
from valora_settings import LOCAL_DATABASE_URL, ValoraSettings

pytestmark = pytest.mark.unit


def test_settings_read_the_valora_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALORA_DATABASE_URL", raising=False)
    monkeypatch.setenv("VALORA_KAFKA_BOOTSTRAP_SERVERS", "a:1, b:2")
    monkeypatch.setenv("VALORA_MLFLOW_TRACKING_URI", "http://mlflow.example:5000/")
    settings = ValoraSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.kafka_bootstrap_list == ["a:1", "b:2"]
    assert settings.mlflow_url_str == "http://mlflow.example:5000"
    assert settings.database_url_is_local
    assert settings.database_url_str == LOCAL_DATABASE_URL


def test_configured_database_url_is_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALORA_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/valora")
    settings = ValoraSettings(_env_file=None)  # type: ignore[call-arg]
    assert not settings.database_url_is_local


def test_bad_urls_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALORA_DATABASE_URL", "mysql://nope")
    with pytest.raises(ValueError, match="database_url"):
        ValoraSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_logging_includes_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="svc", level="INFO", json=True)
    logging.getLogger("valora.test").info("hello", extra={"listing_id": "abc"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello"
    assert record["listing_id"] == "abc"
    assert record["service"] == "svc"
    assert record["level"] == "INFO"


def test_metrics_app_serves_the_service_registry() -> None:
    metrics = ServiceMetrics("svc")
    metrics.messages.labels("svc", "t.v1", "ok").inc(3)
    client = TestClient(metrics_app(metrics))
    text = client.get("/").text
    assert 'valora_messages_total{outcome="ok",service="svc",topic="t.v1"} 3.0' in text
    assert 'valora_up{service="svc"} 1.0' in text


def test_health_app_reports_each_check() -> None:
    async def ok() -> bool:
        return True

    async def broken() -> bool:
        raise ConnectionError("down")

    client = TestClient(health_app(ready={"kafka": ok, "db": broken}))
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"kafka": True, "db": False}}
    assert TestClient(health_app(ready={"kafka": ok})).get("/health/ready").status_code == 200


def test_freeze_heap_moves_the_live_heap_out_of_the_collectors_reach() -> None:
    """What was alive at the freeze is never scanned (a cycle from before it survives a full
    collection), while what is allocated afterwards is still collected."""
    import gc
    import weakref

    from valora_observability import freeze_heap

    class Node:
        def __init__(self) -> None:
            self.me = self  # a reference cycle: only the cyclic collector frees it

    before = Node()
    before_ref = weakref.ref(before)
    try:
        frozen = freeze_heap(reason="test")
        assert frozen == gc.get_freeze_count() > 1000  # the interpreter's and pytest's objects
        del before
        after = Node()
        after_ref = weakref.ref(after)
        del after
        gc.collect(2)
        assert after_ref() is None  # allocated after the freeze: collected
        assert before_ref() is not None  # frozen: out of the collector's reach
    finally:
        gc.unfreeze()
    gc.collect(2)
    assert before_ref() is None  # unfrozen, the old cycle is collected again
