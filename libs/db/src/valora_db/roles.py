"""Least-privilege PostgreSQL roles, one per service, derived from who owns which table.

Every table lives in the module of the service that writes it (:mod:`valora_db.tables`); a
service reads another's table only through a read model (:mod:`valora_db.read_models`). So:

- the owner's role may ``SELECT, INSERT, UPDATE, DELETE`` its tables (and use their sequences);
- a reader's role may ``SELECT`` the tables of its read models (:data:`READS`);
- the trainer's role may create tables in the Optuna schema (Optuna creates its own there);
- no service role may create, alter or drop a table, or write ``alembic_version`` (it may read
  it: a pod waits for the migrations to reach head): only the migration job (the owner) does.

``valora ops migrate`` applies this after the migrations (:func:`apply_service_roles`): roles
are created (``LOGIN`` with a password when one is given, else ``NOLOGIN`` for an operator to
enable) and their grants reset to exactly this, so a table added tomorrow is granted tomorrow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from valora_db.tables import drift_monitor, gateway, metadata, predictor, trainer

__all__ = [
    "OWNERS",
    "READS",
    "ServiceRole",
    "apply_service_roles",
    "role_name",
    "service_roles",
]

logger = logging.getLogger(__name__)

OWNERS = {
    "trainer": trainer,
    "predictor": predictor,
    "gateway": gateway,
    "drift_monitor": drift_monitor,
}
"""Service -> the module holding the tables it owns."""
READS: Mapping[str, tuple[str, ...]] = {"gateway": ("predictions",)}
"""Service -> tables of other services it reads (its read models)."""
OPTUNA_OWNER = "trainer"


def role_name(service: str) -> str:
    return f"valora_{service}"


@dataclass(frozen=True)
class ServiceRole:
    service: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]

    @property
    def name(self) -> str:
        return role_name(self.service)


def _owned(module: object) -> tuple[str, ...]:
    names = {
        value.name
        for value in vars(module).values()
        if isinstance(value, Table) and value.name in metadata.tables
    }
    names |= {
        value.__table__.name
        for value in vars(module).values()
        if isinstance(getattr(value, "__table__", None), Table)
    }
    return tuple(sorted(names))


def service_roles() -> list[ServiceRole]:
    """Every service's role with the tables it writes and reads."""
    return [
        ServiceRole(service, _owned(module), READS.get(service, ()))
        for service, module in OWNERS.items()
    ]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _ensure_role(conn: AsyncConnection, role: str, password: str | None) -> None:
    exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    login = "LOGIN" if password else "NOLOGIN"
    verb = "ALTER" if exists else "CREATE"
    statement = f"{verb} ROLE {_quote(role)} {login}"  # created without any other attribute
    if password:
        # A password cannot be a bind parameter in DDL: quoted as a literal by the server's rules.
        literal = "'" + password.replace("'", "''") + "'"
        statement += f" PASSWORD {literal}"
    await conn.execute(text(statement))


async def _grant(conn: AsyncConnection, role: ServiceRole, *, optuna_schema: str) -> None:
    quoted = _quote(role.name)
    await conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    for table in metadata.tables:
        await conn.execute(text(f"REVOKE ALL ON TABLE {_quote(table)} FROM {quoted}"))
    for table in role.writes:
        privileges = "SELECT, INSERT, UPDATE, DELETE"
        await conn.execute(text(f"GRANT {privileges} ON TABLE {_quote(table)} TO {quoted}"))
    for table in role.reads:
        await conn.execute(text(f"GRANT SELECT ON TABLE {_quote(table)} TO {quoted}"))
    await conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    await conn.execute(text(f"GRANT SELECT ON TABLE alembic_version TO {quoted}"))
    if role.service == OPTUNA_OWNER:
        schema = _quote(optuna_schema)
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        await conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {quoted}"))
        for kind in ("TABLES", "SEQUENCES"):  # tables Optuna made before the role existed
            await conn.execute(text(f"GRANT ALL ON ALL {kind} IN SCHEMA {schema} TO {quoted}"))


async def apply_service_roles(
    conn: AsyncConnection, *, passwords: Mapping[str, str], optuna_schema: str = "optuna"
) -> list[str]:
    """Create or update every service role and reset its grants (idempotent). ``passwords``:
    service -> password (a role without one stays ``NOLOGIN``). Returns the role names."""
    done = []
    for role in service_roles():
        await _ensure_role(conn, role.name, passwords.get(role.service))
        await _grant(conn, role, optuna_schema=optuna_schema)
        done.append(role.name)
    logger.info("service roles applied", extra={"roles": done})
    return done
