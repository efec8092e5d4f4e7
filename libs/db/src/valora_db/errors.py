"""Typed database errors."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from valora_messaging import ErrorClass

__all__ = ["DatabaseUnavailableError", "ValoraDatabaseError", "db_error_class"]


class ValoraDatabaseError(Exception):
    """Base class of database errors."""


class DatabaseUnavailableError(ValoraDatabaseError):
    """PostgreSQL could not be reached (transient: retry, then redeliver)."""


def db_error_class(error: BaseException) -> ErrorClass | None:
    """The consumers' error class of a SQLAlchemy error (a rule for
    :func:`valora_messaging.classify`): a constraint or data error is the record's fault
    (permanent); a lost connection, a timed-out checkout or an operational error is the
    database's (transient). Anything else is decided by the generic rules."""
    if isinstance(error, DatabaseUnavailableError):
        return ErrorClass.TRANSIENT
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return ErrorClass.PERMANENT
    if isinstance(error, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return ErrorClass.TRANSIENT
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return ErrorClass.TRANSIENT
    return None
