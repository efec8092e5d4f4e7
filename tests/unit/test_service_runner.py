"""The service runner, the fatal latch and the shared Kafka readiness check
(valora_observability.runner, .lifecycle, .health.kafka_ready)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import AliasChoices, Field
from starlette.testclient import TestClient
from valora_observability import health_app, kafka_ready, lifecycle, run_checks
from valora_observability.runner import describe, service_main
from valora_settings import ValoraSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def latch() -> Iterator[None]:
    lifecycle.reset()
    yield
    lifecycle.reset()


@pytest.mark.usefixtures("latch")
def test_fatal_fails_liveness_with_its_reason_and_keeps_the_first_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(health_app(ready={}))
    assert client.get("/health/live").status_code == 200
    assert lifecycle.exit_code() == 0
    with caplog.at_level("CRITICAL", logger="valora_observability.lifecycle"):
        lifecycle.fatal("producer fenced", code=71)
        lifecycle.fatal("something else", code=72)
    live = client.get("/health/live")
    assert (live.status_code, live.json()) == (
        503,
        {"status": "fatal", "reason": "producer fenced"},
    )
    assert (lifecycle.fatal_reason(), lifecycle.exit_code()) == ("producer fenced", 71)
    critical = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert [getattr(r, "reason", None) for r in critical] == ["producer fenced"]


@pytest.mark.usefixtures("latch")
def test_fatal_needs_a_non_zero_code() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        lifecycle.fatal("no", code=0)
    assert lifecycle.fatal_reason() is None


@pytest.mark.usefixtures("latch")
def test_fatal_asks_the_registered_server_to_stop_once() -> None:
    stops: list[str] = []
    lifecycle.on_fatal(lambda: stops.append("stop"))
    try:
        lifecycle.fatal("fenced")
        lifecycle.fatal("fenced again")
    finally:
        lifecycle.on_fatal(None)
    assert stops == ["stop"]
    assert lifecycle.exit_code() == lifecycle.EX_SOFTWARE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = textwrap.dedent(
    """
    import sys
    from contextlib import asynccontextmanager
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from valora_observability import configure_logging, fatal
    from valora_observability.runner import run_service

    async def boom(request):
        fatal("producer fenced", code=71)
        return PlainTextResponse("bye")

    @asynccontextmanager
    async def lifespan(app):
        if sys.argv[2] == "broken":
            raise RuntimeError("cannot start")
        yield
        print("lifespan shutdown ran", file=sys.stderr, flush=True)

    configure_logging(service="t", json=True)
    app = Starlette(routes=[Route("/boom", boom)], lifespan=lifespan)
    run_service(app, host="127.0.0.1", port=int(sys.argv[1]), graceful_timeout_s=5)
    print("run_service returned", file=sys.stderr, flush=True)
    """
)


def _serve(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "VALORA_LOG_FILE"}  # log to stderr
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, port


def test_run_service_exits_with_the_fatal_code_after_a_graceful_shutdown(tmp_path: Path) -> None:
    proc, port = _serve(tmp_path, "ok")
    try:
        for _ in range(200):
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/boom", timeout=2).text == "bye"
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 71, err
    assert "lifespan shutdown ran" in err  # graceful: the app's shutdown hooks ran
    assert "run_service returned" not in err
    fatal_lines = [json.loads(line) for line in err.splitlines() if '"exit_code"' in line]
    assert [(r["message"], r["reason"]) for r in fatal_lines] == [
        ("fatal: the process stops", "producer fenced"),
        ("exiting after fatal", "producer fenced"),
    ]


def test_run_service_exits_3_when_the_app_cannot_start(tmp_path: Path) -> None:
    proc, _ = _serve(tmp_path, "broken")
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "cannot start" in err


class _Broker:
    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer
        self.timeouts: list[float] = []

    async def ping(self, timeout: float) -> bool:  # noqa: ASYNC109 (the Pingable protocol)
        self.timeouts.append(timeout)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_kafka_ready_holds_only_while_the_broker_answers() -> None:
    up, down, broken = _Broker(True), _Broker(False), _Broker(ConnectionError("gone"))
    results = await run_checks(
        {"up": kafka_ready(up), "down": kafka_ready(down), "broken": kafka_ready(broken)}
    )
    assert results == {"up": True, "down": False, "broken": False}
    assert up.timeouts == [1.0]


class _Settings(ValoraSettings):
    thing_port: int = Field(default=8123, description="HTTP port.")
    thing_secret: str = Field(description="Required.")
    thing_home: str = Field(
        default="/x", validation_alias=AliasChoices("THING_HOME", "VALORA_THING_HOME")
    )


def test_describe_states_env_names_defaults_and_required_fields() -> None:
    data = describe(_Settings, commands=("step",))
    assert data["settings_class"] == "_Settings"
    assert data["commands"] == ["serve", "describe", "step"]
    fields = data["settings"]
    assert fields["thing_port"] == {
        "env": ["VALORA_THING_PORT"],
        "required": False,
        "description": "HTTP port.",
        "default": 8123,
    }
    assert fields["thing_secret"]["required"] is True
    assert "default" not in fields["thing_secret"]
    assert fields["thing_home"]["env"] == ["THING_HOME", "VALORA_THING_HOME"]
    assert fields["log_file"]["env"] == ["VALORA_LOG_FILE"]  # read by configure_logging
    assert fields["database_url"]["default"].startswith("postgresql+asyncpg://")


def test_service_main_describes_without_serving_and_refuses_unknown_words(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[_Settings] = []
    assert service_main(_Settings, served.append, argv=["describe"]) == 0
    assert json.loads(capsys.readouterr().out)["settings_class"] == "_Settings"
    assert service_main(_Settings, served.append, argv=["bogus"]) == 2
    assert served == []
    monkeypatch.setenv("VALORA_THING_SECRET", "s")
    assert service_main(_Settings, served.append, argv=[]) == 0
    assert [s.thing_secret for s in served] == ["s"]


def test_the_trainer_entry_point_lists_the_steps_its_step_cli_runs() -> None:
    from valora_trainer.__main__ import STEPS
    from valora_trainer.entrypoints.step_cli import STEPS as CLI_STEPS

    assert tuple(STEPS) == tuple(CLI_STEPS)


def test_refused_settings_exit_with_the_reason_and_serve_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from valora_gateway.settings import GatewaySettings

    served: list[GatewaySettings] = []
    monkeypatch.setenv("VALORA_ENVIRONMENT", "production")
    assert service_main(GatewaySettings, served.append, argv=[]) == 2
    assert served == []
    err = capsys.readouterr().err
    assert "VALORA_ENVIRONMENT=production refuses to start" in err
    assert "VALORA_GATEWAY_API_KEYS_PREDICT" in err
