"""A private PostgreSQL cluster (``initdb`` + ``pg_ctl``) under the state directory.

Only used when ``VALORA_DATABASE_URL`` is not set (or ``VALORA_MANAGE_POSTGRES=true``); the
port, role, password and database name come from that URL. PostgreSQL refuses to run as root,
so as root the cluster belongs to the ``postgres`` OS user (``runuser -u postgres --``). That
user must be able to traverse ``<state_dir>``; when it cannot (e.g. a 0700 home or pytest's
tmp dir) the cluster lives in ``/var/tmp/valora-postgres-<hash>`` instead, remembered in
``<state_dir>/postgres/location``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from valora_devstack.component import ExternalEndpoint, ProcessComponent
from valora_devstack.process import DevstackError, pid_matches, read_pid, write_pid
from valora_devstack.settings import DevstackSettings, HostPort, PgUrl, parse_pg_url

__all__ = ["PostgresCluster", "external_postgres", "find_pg_bin"]

logger = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes including ".s.PGSQL.<port>"


def find_pg_bin() -> Path:
    """Directory with initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else PATH."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.is_file()),
        key=version,
        reverse=True,
    )
    for initdb in candidates:
        if (initdb.parent / "pg_ctl").is_file():
            return initdb.parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise DevstackError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql, "
        "or set VALORA_DATABASE_URL to an existing server"
    )


def _psycopg_conninfo(
    url: PgUrl,
    *,
    host: str | None = None,
    user: str | None = None,
    password: str | None = None,
    dbname: str | None = None,
) -> str:
    info = {
        "host": host or url.host,
        "port": str(url.port),
        "user": user or url.user,
        "dbname": dbname or url.dbname,
        "connect_timeout": "3",
    }
    pw = url.password if password is None else password
    if pw:
        info["password"] = pw
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**info)


def can_connect(url: PgUrl) -> bool:
    import psycopg

    try:
        with psycopg.connect(_psycopg_conninfo(url)) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


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
        return Path("/var/tmp") / f"valora-postgres-{digest}"  # noqa: S108 (checked by _secure_dir)

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
            sock = Path("/tmp") / f"valora-pg-{digest}"  # noqa: S108 (checked by _secure_dir)
        return sock

    @property
    def log_file(self) -> Path:
        return self.base_dir() / "postgres.log"

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
        self.log_file.touch(exist_ok=True)
        self._chown(self.log_file)
        link = self.settings.log_dir / "postgres.log"
        if link.resolve() != self.log_file.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(self.log_file)
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

    def launch(self) -> int:
        bin_dir = find_pg_bin()
        opts = " ".join(
            shlex.quote(o)
            for o in (
                "-c",
                f"listen_addresses={self.listen.host}",
                "-c",
                f"port={self.listen.port}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "synchronous_commit=off",
                "-c",
                "max_connections=200",
            )
        )
        result = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "start",
            ],
            timeout=self.start_timeout + 10,
        )
        pid = read_pid(self.data_dir / "postmaster.pid")
        if result.returncode != 0 or pid is None:
            raise DevstackError(f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}")
        write_pid(self.pid_file, pid)
        return pid

    def wait_ready(self, pid: int) -> None:
        # pg_ctl -w waited for the server; now the bootstrap role/databases must exist.
        self._bootstrap()
        super().wait_ready(pid)

    def _bootstrap(self) -> None:
        """Create the role (password from the URL) and databases; idempotent."""
        import psycopg
        from psycopg import sql

        su = _psycopg_conninfo(
            self.url, host=str(self.socket_dir), user="postgres", password="", dbname="postgres"
        )
        with psycopg.connect(su, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.url.user,)
            ).fetchone()
            verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    verb, sql.Identifier(self.url.user), sql.Literal(self.url.password)
                )
            )
            for db in dict.fromkeys((self.url.dbname, "mlflow")):
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                    continue
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db), sql.Identifier(self.url.user)
                    )
                )
                logger.info("database created", extra={"component": self.name, "database": db})

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
