""":class:`ProcessComponent`: a dev-stack component that is one detached process group with a
pid file, a health check and bounded output, which ``up``/``down`` start and stop and tests may
``freeze``/``thaw``. :class:`~valora_devstack.services.ServiceProcess` (a process
with one HTTP port) builds on it; the status types, the :class:`Component` protocol and
:class:`ExternalEndpoint` live in :mod:`.model` (re-exported here).
"""

from __future__ import annotations

import logging
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from valora_devstack.model import (
    Component,
    ComponentStatus,
    ExternalEndpoint,
    State,
    http_ok,
)
from valora_devstack.process import (
    DevstackError,
    group_alive,
    is_frozen,
    pid_alive,
    pid_matches,
    port_open,
    read_pid,
    remove_pid,
    signal_group,
    spawn,
    stop_group,
    tail,
    wait_port_closed,
    wait_until,
)
from valora_devstack.settings import DevstackSettings, HostPort

__all__ = [
    "Component",
    "ComponentStatus",
    "ExternalEndpoint",
    "ProcessComponent",
    "State",
    "http_ok",
]

logger = logging.getLogger(__name__)


class ProcessComponent(ABC):
    """A component that is one detached process group with a pid file and a health check.

    Subclasses give ``argv``, ``ports``, ``address`` and ``healthy``; they may override
    ``prepare`` (before start), ``launch`` (how to start; default: spawn argv), ``converge``
    (idempotent set-up after it is healthy, run on every ``up``) and ``wait_ready``.
    """

    name: str = "process"
    marker: str = ""  # substring of the process command line (guards against pid reuse)
    depends_on: tuple[str, ...] = ()
    term_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings

    # ---- to implement ---------------------------------------------------------------------
    @property
    @abstractmethod
    def address(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> Sequence[HostPort]: ...

    @abstractmethod
    def healthy(self) -> bool:
        """Cheap health check used by ``status`` (and by ``wait_ready`` by default)."""

    # ---- hooks ----------------------------------------------------------------------------
    @property
    def start_timeout(self) -> float:
        return 60.0

    def argv(self) -> list[str]:
        """Command line of the process started by the default ``launch``."""
        return []

    def env(self) -> Mapping[str, str]:
        return {}

    def prepare(self) -> None:
        """Create directories / config before the process starts (hook; default: nothing)."""
        return None

    @property
    def log_max_bytes(self) -> int:
        """Size at which the process's output file rotates (one old file is kept)."""
        return self.settings.log_max_bytes

    def launch(self) -> int:
        """Start the process detached; return the pid of the process-group leader."""
        argv = self.argv()
        if not argv:
            raise DevstackError(f"{self.name}: no command line to launch")
        return spawn(
            argv,
            pid_file=self.pid_file,
            log_file=self.log_file,
            env=self.env(),
            log_max_bytes=self.log_max_bytes,
            log_backups=self.settings.log_backups,
        )

    def wait_ready(self, pid: int) -> None:
        ok = wait_until(
            self.healthy,
            timeout=self.start_timeout,
            interval=0.25,
            abort=lambda: None if pid_alive(pid) else f"{self.name} exited during start-up",
        )
        if not ok:
            raise DevstackError(f"{self.name} not healthy after {self.start_timeout:.0f}s")

    def converge(self) -> None:
        """Idempotent set-up once healthy (topics, roles, migrations); runs on every ``up``."""
        return None

    # ---- machinery ------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / f"{self.name}.log"

    @property
    def diagnostic_logs(self) -> list[Path]:
        """Logs whose tail explains a failed start."""
        return [self.log_file]

    def current_pid(self) -> int | None:
        """The pid from the pid file if that process is still ours and alive (read-only)."""
        pid = read_pid(self.pid_file)
        if pid is not None and pid_matches(pid, self.marker):
            return pid
        return None

    def _orphan_group(self) -> int | None:
        """A dead leader's process group that still has members (e.g. after ``kill -9``)."""
        pid = read_pid(self.pid_file)
        if pid is None or pid_alive(pid):  # alive but not ours: pid reuse, not our group
            return None
        return pid if group_alive(pid) else None

    def _clean_stale(self) -> bool:
        """Remove a stale pid file, first killing what is left of its process group.

        Returns True when orphaned processes were stopped.
        """
        pid = read_pid(self.pid_file)
        if pid is None or pid_matches(pid, self.marker):
            return False
        orphans = self._orphan_group()
        if orphans is not None:
            logger.warning(
                "killing orphaned processes of a dead leader",
                extra={"component": self.name, "pgid": orphans},
            )
            stop_group(
                orphans,
                name=self.name,
                timeout=self.settings.stop_timeout_s,
                term_signal=self.term_signal,
            )
        logger.info("removing stale pid file", extra={"component": self.name, "pid": pid})
        remove_pid(self.pid_file)
        if orphans is not None:
            self._wait_ports_closed()
        return orphans is not None

    def _wait_ports_closed(self) -> None:
        for p in self.ports:
            if not wait_port_closed(p.host, p.port, timeout=10):
                raise DevstackError(f"{self.name}: port {p} still open after stop")

    def _foreign_port(self) -> HostPort | None:
        return next((p for p in self.ports if port_open(p.host, p.port, timeout=0.2)), None)

    def status(self) -> ComponentStatus:
        pid = self.current_pid()
        if pid is None:
            detail = ""
            if (orphans := self._orphan_group()) is not None:
                detail = f"leader died; orphaned processes left in group {orphans}"
            elif (busy := self._foreign_port()) is not None:
                detail = f"port {busy} is used by a process the dev stack did not start"
            return ComponentStatus(self.name, State.STOPPED, None, self.address, detail)
        if is_frozen(pid):
            return ComponentStatus(self.name, State.FROZEN, pid, self.address, "SIGSTOP")
        state = State.RUNNING if self.healthy() else State.UNHEALTHY
        return ComponentStatus(self.name, state, pid, self.address)

    # ---- faults (tests) -------------------------------------------------------------------
    def _running_pid(self) -> int:
        pid = self.current_pid()
        if pid is None:
            raise DevstackError(f"{self.name} is not running")
        return pid

    def freeze(self) -> int:
        """SIGSTOP the whole process group (as a GC pause or a frozen node would); its pid."""
        pid = self._running_pid()
        signal_group(pid, signal.SIGSTOP)
        wait_until(lambda: is_frozen(pid), timeout=5, interval=0.02)
        logger.info("frozen", extra={"component": self.name, "pid": pid})
        return pid

    def thaw(self) -> int:
        """SIGCONT the process group after :meth:`freeze`; its pid."""
        pid = self._running_pid()
        signal_group(pid, signal.SIGCONT)
        logger.info("thawed", extra={"component": self.name, "pid": pid})
        return pid

    def up(self) -> bool:
        self._clean_stale()
        pid = self.current_pid()
        if pid is not None:
            if is_frozen(pid):
                self.thaw()
            if self.healthy() or wait_until(self.healthy, timeout=self.start_timeout):
                logger.info("already running", extra={"component": self.name, "pid": pid})
                self.converge()
                return False
            logger.warning("unhealthy, restarting", extra={"component": self.name, "pid": pid})
            self.down()
        busy = self._foreign_port()
        if busy is not None:
            raise DevstackError(
                f"{self.name}: port {busy} is in use by a process the dev stack did not start"
            )
        started = time.monotonic()
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        pid = self.launch()
        logger.info("started", extra={"component": self.name, "pid": pid})
        try:
            self.wait_ready(pid)
        except Exception as exc:
            log_tail = "\n".join(tail(f, lines=20) for f in self.diagnostic_logs)
            self.down()
            raise DevstackError(f"{self.name} failed to start: {exc}\n{log_tail}") from exc
        ready = time.monotonic()
        self.converge()
        logger.info(
            "ready",
            extra={
                "component": self.name,
                "pid": pid,
                "address": self.address,
                "start_s": round(ready - started, 2),
                "converge_s": round(time.monotonic() - ready, 2),
            },
        )
        return True

    def down(self) -> bool:
        stopped = self._clean_stale()
        pid = self.current_pid()
        if pid is not None:
            started = time.monotonic()
            stop_group(
                pid,
                name=self.name,
                timeout=self.settings.stop_timeout_s,
                term_signal=self.term_signal,
            )
            stopped = True
            logger.info(
                "stopped",
                extra={
                    "component": self.name,
                    "pid": pid,
                    "stop_s": round(time.monotonic() - started, 2),
                },
            )
            remove_pid(self.pid_file)
            self._wait_ports_closed()
        return stopped
