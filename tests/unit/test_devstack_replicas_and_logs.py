"""The dev stack without the real stack: replica names, ports and identities, and bounded
process output (valora_devstack.services, .stack, .logpipe, .process.spawn)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from valora_devstack import DevstackError, DevstackSettings, parse_replicas
from valora_devstack.logpipe import CHUNK
from valora_devstack.process import pid_alive, read_pid, spawn, stop_group, wait_until
from valora_devstack.services import SERVICES, service_process, spec_of, split_replica
from valora_devstack.stack import components

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path) -> DevstackSettings:
    return DevstackSettings(state_dir=tmp_path / "state", service_port_offset=1000)


def test_replicas_parse_from_the_command_line() -> None:
    assert parse_replicas("validator=2, ingestion=3") == {"validator": 2, "ingestion": 3}
    assert parse_replicas(["predictor=2", "drift-monitor=1"]) == {
        "predictor": 2,
        "drift-monitor": 1,
    }
    assert parse_replicas(None) == {}
    for bad in ("validator", "validator=two", "nosuch=2", "validator=0", "validator=10"):
        with pytest.raises(DevstackError):
            parse_replicas(bad)


def test_replica_zero_keeps_todays_port_and_names(settings: DevstackSettings) -> None:
    spec = spec_of("ingestion")
    zero = service_process(settings, spec, extra_env={"VALORA_LOG_LEVEL": "DEBUG"})
    env = zero.env()
    assert (zero.name, zero.ports[0].port) == ("ingestion", 8101 + 1000)
    assert "VALORA_INGESTION_TRANSACTIONAL_ID" not in env  # the service's own default, as today
    assert env["VALORA_LOG_FILE"] == str(settings.log_dir / "ingestion.log")
    assert zero.log_file == settings.log_dir / "ingestion.stdout.log"
    assert zero.pid_file == settings.run_dir / "ingestion.pid"


def test_replicas_get_distinct_ports_logs_and_stable_identities(
    settings: DevstackSettings,
) -> None:
    for spec in SERVICES:
        replicas = [service_process(settings, spec, replica=i) for i in range(3)]
        assert len({r.name for r in replicas}) == 3
        assert len({r.ports[0].port for r in replicas}) == 3
        assert len({r.env()["VALORA_LOG_FILE"] for r in replicas}) == 3
        assert len({r.pid_file for r in replicas}) == 3
        for env in spec.identity_envs:
            ids = [r.env().get(env) for r in replicas[1:]]
            assert None not in ids, (spec.name, env)
            assert len(set(ids)) == 2, (spec.name, env, ids)
            again = service_process(settings, spec, replica=2).env()[env]
            assert again == ids[1]  # a restart of replica 2 keeps its identity
    predictor = spec_of("predictor")
    given = {"VALORA_PREDICTOR_INSTANCE_ID": "run7-predictor"}
    one = service_process(settings, predictor, replica=1, extra_env=given)
    assert one.env()["VALORA_PREDICTOR_INSTANCE_ID"] == "run7-predictor-1"
    assert one.name == "predictor-1"
    assert one.ports[0].port == 8104 + 1000 + 100


def test_only_selects_a_replica_by_name_and_status_sees_started_replicas(
    settings: DevstackSettings,
) -> None:
    names = [c.name for c in components(settings)]
    assert "validator" in names
    assert "validator-1" not in names
    names = [c.name for c in components(settings, replicas={"validator": 3})]
    assert [n for n in names if n.startswith("validator")] == [
        "validator",
        "validator-1",
        "validator-2",
    ]
    assert "predictor-4" in [c.name for c in components(settings, only=["predictor-4"])]
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "ingestion-2.pid").write_text("999999\n")  # started earlier
    names = [c.name for c in components(settings)]
    assert [n for n in names if n.startswith("ingestion")] == [
        "ingestion",
        "ingestion-1",
        "ingestion-2",
    ]
    assert split_replica("drift-monitor-2") == ("drift-monitor", 2)
    assert split_replica("drift-monitor") == ("drift-monitor", 0)
    assert split_replica("kafka") is None


def _contains(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except FileNotFoundError:  # not created yet, or between a rename and the next open
        return False


CHATTY = """
import sys, time
for i in range(20000):
    print(f"line {i} " + "x" * 60)
print("last words", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_spawned_output_is_size_bounded_and_the_pid_is_the_command(tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    log = tmp_path / "logs" / "chatty.log"
    pid_file = tmp_path / "chatty.pid"
    pid = spawn(
        [sys.executable, str(script), "30"],
        pid_file=pid_file,
        log_file=log,
        log_max_bytes=100_000,
        log_backups=2,
    )
    assert read_pid(pid_file) == pid
    assert wait_until(lambda: _contains(log, "last words"), timeout=30)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert str(script) in cmdline
    assert "logpipe" not in cmdline  # exec'd: the pid is the command's, not the copier's
    stop_group(pid, name="chatty", timeout=10)
    assert not pid_alive(pid)
    files = sorted(p.name for p in log.parent.iterdir())
    assert files == ["chatty.log", "chatty.log.1", "chatty.log.2"]  # 1.4 MB written in all
    assert all(p.stat().st_size <= 100_000 + CHUNK for p in log.parent.iterdir())


def test_a_group_stop_keeps_the_last_lines(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('stopping cleanly', flush=True), "
        "sys.exit(0)))\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "slow.log"
    pid = spawn([sys.executable, str(script)], pid_file=tmp_path / "slow.pid", log_file=log)
    assert wait_until(lambda: _contains(log, "up"), timeout=30)
    started = time.monotonic()
    stop_group(pid, name="slow", timeout=10)
    assert time.monotonic() - started < 10  # stopped by SIGTERM, not by the SIGKILL fallback
    assert log.read_text().splitlines() == ["up", "stopping cleanly"]
