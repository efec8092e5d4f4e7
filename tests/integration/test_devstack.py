"""The dev stack itself: idempotent ``up``, accurate ``status`` after ``kill -9``, clean ``down``.

Lifecycle tests run on an isolated stack (own state dir and ports) so they never disturb the
session stack the other integration tests share through the ``devstack`` fixture.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import AnyHttpUrl, PostgresDsn
from valora_devstack import DevstackSettings, StackInfo, State, down, freeze, status, thaw, up
from valora_devstack.kafka import produce_consume_roundtrip
from valora_devstack.process import pid_alive
from valora_devstack.services import SERVICES
from valora_devstack.settings import parse_pg_url
from valora_devstack.stack import INFRASTRUCTURE
from valora_messaging import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ISOLATED_PORTS = {"kafka": 29092, "controller": 29093, "postgres": 25432, "mlflow": 25000}
ISOLATED_SERVICE_PORT_OFFSET = 20000  # ingestion 28101, validator 28102, ...
# The infrastructure plus one Valora service process (each service is a ServiceProcess alike;
# starting all of them three times would only make the test slow).
ISOLATED_COMPONENTS = (*INFRASTRUCTURE, "ingestion")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [p for p in found if p != os.getpid() and pid_alive(p)]


def _pids(settings: DevstackSettings) -> dict[str, int | None]:
    return {s.name: s.pid for s in status(settings) if s.name in ISOLATED_COMPONENTS}


@pytest.fixture(scope="module")
def isolated() -> Iterator[DevstackSettings]:
    base = DevstackSettings()
    settings = DevstackSettings(
        state_dir=base.state_path / "it-isolated",
        kafka_bootstrap_servers=f"127.0.0.1:{ISOLATED_PORTS['kafka']}",
        kafka_controller_port=ISOLATED_PORTS["controller"],
        database_url=PostgresDsn(
            "postgresql+asyncpg://valora:valora-local-only"
            f"@127.0.0.1:{ISOLATED_PORTS['postgres']}/valora"
        ),
        manage_postgres=True,
        mlflow_tracking_uri=AnyHttpUrl(f"http://127.0.0.1:{ISOLATED_PORTS['mlflow']}"),
        service_port_offset=ISOLATED_SERVICE_PORT_OFFSET,
    )
    try:
        yield settings
    finally:
        down(settings)


def test_session_stack_serves_kafka_postgres_and_mlflow(devstack: StackInfo) -> None:
    states = {s.name: s.state for s in status(DevstackSettings())}
    assert {name: states[name] for name in INFRASTRUCTURE} == {
        "postgres": State.RUNNING,
        "kafka": State.RUNNING,
        "mlflow": State.RUNNING,
    }
    from valora_devstack.kafka import run_async

    client = KafkaSettings(kafka_bootstrap_servers=devstack.kafka_bootstrap_servers)
    run_async(lambda: produce_consume_roundtrip(client))
    pg = parse_pg_url(devstack.database_url)
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.dbname
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert httpx.get(f"{devstack.mlflow_tracking_uri}/health", timeout=5).status_code == 200


def test_second_up_is_a_fast_no_op(isolated: DevstackSettings) -> None:
    first = up(isolated, only=ISOLATED_COMPONENTS)
    assert all(s.state is State.RUNNING for s in first.statuses), first.statuses
    pids = _pids(isolated)
    started = time.monotonic()
    second = up(isolated, only=ISOLATED_COMPONENTS)
    elapsed = time.monotonic() - started
    assert second.started == []
    assert _pids(isolated) == pids
    assert elapsed < 15, f"second up took {elapsed:.1f}s"


def test_status_after_kill_9_is_stopped_and_up_restores(isolated: DevstackSettings) -> None:
    up(isolated, only=ISOLATED_COMPONENTS)
    before = _pids(isolated)
    for name in ("mlflow", "kafka"):
        pid = before[name]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    for name in ("mlflow", "kafka"):
        pid = before[name]
        assert pid is not None
        assert _wait(functools.partial(_dead, pid)), f"{name} survived kill -9"

    states = {s.name: s for s in status(isolated)}
    for name in ("mlflow", "kafka"):
        assert states[name].state is State.STOPPED
        assert states[name].pid is None
    assert states["postgres"].state is State.RUNNING

    result = up(isolated, only=ISOLATED_COMPONENTS)
    assert sorted(result.started) == ["kafka", "mlflow"]
    after = _pids(isolated)
    assert after["postgres"] == before["postgres"]
    assert after["mlflow"] not in (None, before["mlflow"])
    states = {s.name: s.state for s in status(isolated)}
    assert all(states[name] is State.RUNNING for name in ISOLATED_COMPONENTS)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def test_replicas_run_side_by_side_with_their_own_port_log_and_id(
    isolated: DevstackSettings,
) -> None:
    up(isolated, only=ISOLATED_COMPONENTS, replicas={"ingestion": 2})
    states = {s.name: s for s in status(isolated)}
    zero, one = states["ingestion"], states["ingestion-1"]
    assert (zero.state, one.state) == (State.RUNNING, State.RUNNING)
    assert zero.address != one.address
    assert zero.pid is not None
    assert one.pid is not None
    env0, env1 = _environ(zero.pid), _environ(one.pid)
    # no per-replica transactional id: ingestion's producers are per input partition
    assert not [k for env in (env0, env1) for k in env if k.endswith("_TRANSACTIONAL_ID")]
    assert env0["VALORA_LOG_FILE"] != env1["VALORA_LOG_FILE"]
    for env in (env0, env1):  # each replica writes its own log (the service's own handler)
        log = Path(env["VALORA_LOG_FILE"])
        assert _wait(functools.partial(_written, log)), log

    assert freeze(isolated, "ingestion-1") == one.pid
    assert {s.name: s.state for s in status(isolated)}["ingestion-1"] is State.FROZEN
    thaw(isolated, "ingestion-1")
    assert {s.name: s.state for s in status(isolated)}["ingestion-1"] is State.RUNNING

    assert down(isolated, only=["ingestion-1"]) == ["ingestion-1"]
    assert "ingestion-1" not in {s.name for s in status(isolated)}  # stopped and forgotten
    assert not pid_alive(one.pid)
    restarted = up(isolated, only=["ingestion-1"])
    assert restarted.started == ["ingestion-1"]
    again = {s.name: s for s in status(isolated)}["ingestion-1"]
    assert again.pid is not None
    assert _environ(again.pid)["VALORA_LOG_FILE"] == env1["VALORA_LOG_FILE"]  # same after restart
    assert down(isolated, only=["ingestion-1"]) == ["ingestion-1"]


def test_down_leaves_no_process_and_no_port(isolated: DevstackSettings) -> None:
    up(isolated, only=ISOLATED_COMPONENTS)
    pids = _pids(isolated)
    stopped = down(isolated)
    assert sorted(stopped) == sorted(ISOLATED_COMPONENTS)
    assert all(s.state is State.STOPPED for s in status(isolated))
    assert all(s.pid is None for s in status(isolated))
    for name, pid in pids.items():
        assert pid is not None
        assert not pid_alive(pid), f"{name} still alive"
    assert _processes_mentioning(str(isolated.state_path)) == []
    service_ports = [spec.port + ISOLATED_SERVICE_PORT_OFFSET for spec in SERVICES]
    for port in [*ISOLATED_PORTS.values(), *service_ports]:
        assert _port_free(port), f"port {port} still in use"
    assert down(isolated) == []  # idempotent


def _written(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _dead(pid: int) -> bool:
    return not pid_alive(pid)


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
