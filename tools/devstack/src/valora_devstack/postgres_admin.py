"""PostgreSQL helpers of the dev stack: find the server binaries, connect, and create the
role and databases a fresh cluster needs."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from valora_devstack.process import DevstackError
from valora_devstack.settings import PgUrl

__all__ = ["bootstrap_roles", "can_connect", "find_pg_bin", "psycopg_conninfo", "superuser_ready"]

logger = logging.getLogger(__name__)


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


def psycopg_conninfo(
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
        with psycopg.connect(psycopg_conninfo(url)) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def superuser_ready(url: PgUrl, socket_dir: Path) -> bool:
    """True when the server accepts the ``postgres`` superuser on its Unix socket."""
    import psycopg

    conninfo = psycopg_conninfo(
        # peer authentication over the cluster's private Unix socket: no password at all
        url,
        host=str(socket_dir),
        user="postgres",
        password="",
        dbname="postgres",  # nosec B106
    )
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def bootstrap_roles(url: PgUrl, socket_dir: Path) -> None:
    """Create the role (password from the URL) and the databases; idempotent."""
    import psycopg
    from psycopg import sql

    su = psycopg_conninfo(
        # peer authentication over the cluster's private Unix socket: no password at all
        url,
        host=str(socket_dir),
        user="postgres",
        password="",
        dbname="postgres",  # nosec B106
    )
    with psycopg.connect(su, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (url.user,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            # CREATEROLE: the migration job (`valora ops migrate`) creates the services'
            # least-privilege roles, as it does as the database owner in compose and Kubernetes.
            sql.SQL("{} ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                verb, sql.Identifier(url.user), sql.Literal(url.password)
            )
        )
        for db in dict.fromkeys((url.dbname, "mlflow")):
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                continue
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(db), sql.Identifier(url.user)
                )
            )
            logger.info("database created", extra={"component": "postgres", "database": db})
