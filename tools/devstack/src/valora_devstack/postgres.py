"""A private PostgreSQL cluster (``initdb``, then the ``postgres`` server in the foreground of
its own process group) under the state directory; its output is size-bounded in
``<state_dir>/logs/postgres.log``.

Only used when ``VALORA_DATABASE_URL`` is not set (or ``VALORA_MANAGE_POSTGRES=true``); the
port, role, password and database name come from that URL. PostgreSQL refuses to run as root,
so as root the cluster belongs to the ``postgres`` OS user (``runuser -u postgres --`` for
``initdb``, the server started as that user). That
user must be able to traverse ``<state_dir>``; when it cannot (e.g. a 0700 home or pytest's
tmp dir) the cluster lives in ``/var/tmp/valora-postgres-<hash>`` instead, remembered in
``<state_dir>/postgres/location``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from valora_devstack.component import ExternalEndpoint, ProcessComponent
from valora_devstack.postgres_admin import (
    bootstrap_roles,
    can_connect,
    find_pg_bin,
    superuser_ready,
)
from valora_devstack.process import (
    DevstackError,
    pid_alive,
    pid_matches,
    read_pid,
    spawn,
    wait_until,
    write_pid,
)
from valora_devstack.settings import DevstackSettings, HostPort, parse_pg_url

__all__ = ["PostgresCluster", "external_postgres", "find_pg_bin"]

logger = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes including ".s.PGSQL.<port>"


class PostgresCluster(ProcessComponent):
    name = "postgres"
    marker = "postgres"
    term_signal = signal.SIGINT  # "fast" shutdown

    def __init__(self, settings: DevstackSettings) -> None:
        super().__init__(settings)
        self.url = settings.pg
        self.listen = HostPort("127.0.0.1", self.url.port)
        self.as_root = os.geteuid() == 0

    # ---- paths ----------------------------------------------------------------------------
    @property
    def _location_file(self) -> Path:
        return self.settings.state_path / "postgres" / "location"

    def base_dir(self) -> Path:
        """Where the cluster lives (decided once, remembered in the location file)."""
        if self._location_file.exists():
            return Path(self._location_file.read_text().strip())
        preferred = self.settings.state_path / "postgres"
        if not self.as_root or self._postgres_user_can_use(preferred):
            return preferred
        digest = hashlib.sha256(str(self.settings.state_path).encode()).hexdigest()[:10]
        # Checked by _secure_dir (owner, 0700) before use.
        return Path("/var/tmp") / f"valora-postgres-{digest}"  # noqa: S108  # nosec B108

    def _postgres_user_can_use(self, directory: Path) -> bool:
        directory.mkdir(parents=True, exist_ok=True)
        self._chown(directory)
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "test",
                "-w",
                str(directory),
                "-a",
                "-x",
                str(directory),
            ],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    @property
    def data_dir(self) -> Path:
        return self.base_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        sock = self.base_dir() / "run"
        if len(str(sock)) + len(f"/.s.PGSQL.{self.url.port}") > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(sock).encode()).hexdigest()[:10]
            # Checked by _secure_dir (owner, 0700) before use.
            sock = Path("/tmp") / f"valora-pg-{digest}"  # noqa: S108  # nosec B108
        return sock

    # ---- component ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.listen}/{self.url.dbname}"

    @property
    def ports(self) -> Sequence[HostPort]:
        return [self.listen]

    @property
    def start_timeout(self) -> float:
        return self.settings.postgres_start_timeout_s

    def healthy(self) -> bool:
        return can_connect(self.url)

    def current_pid(self) -> int | None:
        pid = super().current_pid()
        if pid is None and not self.pid_file.exists() and self._location_file.exists():
            # Our pid file is gone but the cluster may still run: PostgreSQL's own pid file.
            pm_pid = read_pid(self.data_dir / "postmaster.pid")
            if pm_pid is not None and pid_matches(pm_pid, self.marker):
                write_pid(self.pid_file, pm_pid)
                return pm_pid
        return pid

    def _secure_dir(self, path: Path) -> None:
        """Refuse a directory (maybe in a shared /tmp) that is a symlink or someone else's."""
        st = path.lstat()
        owners = {os.geteuid()}
        if self.as_root:
            owners.add(pwd.getpwnam("postgres").pw_uid)
        if path.is_symlink() or st.st_uid not in owners:
            raise DevstackError(f"{path} is a symlink or owned by uid {st.st_uid}: refusing it")

    def _chown(self, path: Path) -> None:
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise DevstackError("running as root needs the 'postgres' OS user") from exc
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=timeout, cwd="/"
        )

    def prepare(self) -> None:
        base = self.base_dir()
        base.mkdir(parents=True, exist_ok=True)
        self._location_file.parent.mkdir(parents=True, exist_ok=True)
        self._location_file.write_text(f"{base}\n")
        if base != self.settings.state_path / "postgres":
            logger.warning(
                "the postgres OS user cannot use the state dir; cluster placed elsewhere",
                extra={"component": self.name, "dir": str(base)},
            )
        for d in (base, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._secure_dir(d)
            self._chown(d)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()

    def _initdb(self) -> None:
        started = time.monotonic()
        bin_dir = find_pg_bin()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        result = self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise DevstackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        logger.info(
            "postgres cluster initialised",
            extra={
                "component": self.name,
                "data_dir": str(self.data_dir),
                "initdb_s": round(time.monotonic() - started, 2),
                "bin": str(bin_dir),
            },
        )

    def argv(self) -> list[str]:
        # Durable commits (PostgreSQL's default): an answer that says a prediction is stored
        # must survive a crash, as it would in production (synchronous_commit=off lost three
        # acknowledged predictions to a kill -9 in the fault test).
        return [
            str(find_pg_bin() / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            f"listen_addresses={self.listen.host}",
            "-c",
            f"port={self.listen.port}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "max_connections=200",
        ]

    def launch(self) -> int:
        """The postmaster in the foreground (as the ``postgres`` OS user when we are root), its
        output size-bounded in ``<logs>/postgres.log``."""
        return spawn(
            self.argv(),
            pid_file=self.pid_file,
            log_file=self.log_file,
            cwd=Path("/"),
            user="postgres" if self.as_root else None,
            log_max_bytes=self.settings.log_max_bytes,
            log_backups=self.settings.log_backups,
        )

    def wait_ready(self, pid: int) -> None:
        def exited() -> str | None:
            return None if pid_alive(pid) else "postgres exited during start-up"

        if not wait_until(
            lambda: superuser_ready(self.url, self.socket_dir),
            timeout=self.start_timeout,
            abort=exited,
        ):
            raise DevstackError(f"postgres not accepting connections after {self.start_timeout}s")
        self._bootstrap()  # the role and databases must exist before the health check
        super().wait_ready(pid)

    def _bootstrap(self) -> None:
        bootstrap_roles(self.url, self.socket_dir)

    def converge(self) -> None:
        self._bootstrap()
        try:
            from valora_db.migrate import upgrade_head
        except ImportError:
            logger.warning(
                "valora_db.migrate.upgrade_head not available yet; migrations skipped",
                extra={"component": self.name},
            )
            return
        started = time.monotonic()
        upgrade_head(self.settings.database_url_str)
        logger.info(
            "migrations at head",
            extra={"component": self.name, "migrate_s": round(time.monotonic() - started, 2)},
        )


def external_postgres(settings: DevstackSettings) -> ExternalEndpoint:
    url = parse_pg_url(settings.database_url_str)
    return ExternalEndpoint(
        "postgres", f"{url.host}:{url.port}/{url.dbname}", lambda: can_connect(url)
    )
