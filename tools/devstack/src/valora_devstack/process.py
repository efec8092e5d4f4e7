"""Detached processes with pid files, liveness that survives ``kill -9``, group-wide stop,
freeze and thaw; their output bounded by :mod:`valora_devstack.logpipe`."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "DevstackError",
    "group_alive",
    "is_frozen",
    "pid_alive",
    "pid_matches",
    "port_open",
    "read_pid",
    "remove_pid",
    "signal_group",
    "spawn",
    "stop_group",
    "tail",
    "wait_port_closed",
    "wait_until",
    "write_pid",
]

logger = logging.getLogger(__name__)

LOGPIPE = Path(__file__).with_name("logpipe.py")
DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024

# Popen objects of the processes this interpreter started: kept so they are reaped (no
# zombies that look alive to kill(pid, 0)) and so Popen.__del__ does not warn.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class DevstackError(RuntimeError):
    """A dev-stack component could not be started, stopped or reached."""


# ---- pid files ---------------------------------------------------------------------------
def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def remove_pid(pid_file: Path) -> None:
    pid_file.unlink(missing_ok=True)


# ---- liveness ----------------------------------------------------------------------------
def _state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, T, Z, ...), None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The state field follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0]


def pid_alive(pid: int) -> bool:
    """True when ``pid`` is a live (non-zombie) process."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    return _state(pid) not in (None, "Z", "X")


def is_frozen(pid: int) -> bool:
    """True when ``pid`` is stopped by a signal (SIGSTOP: frozen)."""
    return _state(pid) == "T"


def pid_matches(pid: int, marker: str) -> bool:
    """True when ``pid`` is alive and its command line contains ``marker`` (no pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.25,
    abort: Callable[[], str | None] | None = None,
) -> bool:
    """Poll ``predicate`` until true or timeout; ``abort`` returning a message raises early."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if abort is not None and (reason := abort()) is not None:
            raise DevstackError(reason)
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_port_closed(host: str, port: int, timeout: float) -> bool:
    return wait_until(lambda: not port_open(host, port, timeout=0.2), timeout=timeout)


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16_384))
            return "\n".join(fh.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


# ---- start / stop ------------------------------------------------------------------------
def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
    log_backups: int = 1,
) -> int:
    """Start ``argv`` detached (own session and process group, leader = ``argv``'s process),
    stdout and stderr in ``log_file`` rotated by size (at most ``log_backups`` old files).

    ``user``: run ``argv`` as that OS user (the caller is root), the log copier stays root.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.is_symlink():  # an older dev stack linked logs elsewhere
        log_file.unlink()
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    wrapper = [sys.executable, "-I", "-S", str(LOGPIPE), str(log_file), str(log_max_bytes)]
    wrapper += [str(log_backups), *(["--user", user] if user else []), "--", *argv]
    proc = subprocess.Popen(
        wrapper,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    _CHILDREN[proc.pid] = proc
    write_pid(pid_file, proc.pid)
    return proc.pid


def group_alive(pgid: int) -> bool:
    """True when process group ``pgid`` has a live (non-zombie) member."""
    return _group_alive(pgid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) succeeds for zombies too: look for a non-zombie member.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to every process of group ``pgid`` (gone or foreign groups are ignored)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(
    pid: int,
    *,
    name: str,
    timeout: float,
    term_signal: signal.Signals = signal.SIGTERM,
) -> None:
    """Send ``term_signal`` to the process group of ``pid``, SIGKILL the group after timeout."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = pid
    if pgid != pid:
        # Not a group leader we created (should not happen): signal the process only.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, term_signal)
            os.kill(pid, signal.SIGCONT)
        if not wait_until(lambda: not pid_alive(pid), timeout=timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), timeout=5)
        return
    signal_group(pgid, term_signal)
    signal_group(pgid, signal.SIGCONT)  # a frozen group must wake up to stop
    if wait_until(lambda: not _group_alive(pgid), timeout=timeout, interval=0.1):
        pid_alive(pid)  # reap it if it was ours
        return
    logger.warning(
        "process group did not stop in time, killing it",
        extra={"component": name, "pid": pid, "timeout_s": timeout},
    )
    signal_group(pgid, signal.SIGKILL)
    if not wait_until(lambda: not _group_alive(pgid), timeout=10, interval=0.1):
        raise DevstackError(f"{name}: process group {pgid} survived SIGKILL")
    pid_alive(pid)
