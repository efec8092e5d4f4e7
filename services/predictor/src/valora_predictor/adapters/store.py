"""Where predictions are stored: PostgreSQL, idempotently, in bulk.

``save`` inserts with ``ON CONFLICT (source, input_id) DO NOTHING`` and returns, for every input,
the row that is stored: the new one, or the one a previous delivery stored (so a redelivered
request is answered with the prediction id, price and model version already on record). Rows
carrying a challenger's answer have it inserted into ``shadow_predictions`` by the same
statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Float, String
from sqlalchemy.dialects.postgresql import JSONB
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt
from valora_db import create_driver_pool
from valora_db.tables.predictor import predictions, shadow_predictions

from valora_predictor.domain.predictions import PredictionRow, RowKey

__all__ = ["SqlPredictionStore"]

_TABLE = predictions
_COLUMNS = tuple(c.name for c in _TABLE.columns if c.server_default is None)
"""Every column the predictor writes (``created_at`` is the server's), from the table itself:
a column added to the table without a field on :class:`PredictionRow` fails every save."""
_JSON = tuple(c.name for c in _TABLE.columns if isinstance(c.type, JSONB))


def _sql_type(name: str) -> str:
    kind = _TABLE.c[name].type
    if isinstance(kind, JSONB):
        return "text"  # sent as JSON text, cast in the SELECT
    if isinstance(kind, Float):
        return "float8"
    if isinstance(kind, String):
        return "text"
    raise TypeError(f"predictions.{name}: no array type for {kind!r}")


def _insert_sql() -> str:
    """One ``INSERT .. SELECT FROM unnest($1::text[], ..)``: a single round trip for a whole
    batch, far cheaper than a multi-row VALUES with a parameter per cell."""
    columns = ", ".join(_COLUMNS)
    arrays = ", ".join(f"${i}::{_sql_type(c)}[]" for i, c in enumerate(_COLUMNS, start=1))
    selected = ", ".join(f"t.{c}::jsonb" if c in _JSON else f"t.{c}" for c in _COLUMNS)
    return (
        # Only the table's own column names are formatted in, never data (bandit B608).
        f"INSERT INTO {_TABLE.name} ({columns}) SELECT {selected} "  # nosec B608
        f"FROM unnest({arrays}) AS t({columns}) "
        "ON CONFLICT ON CONSTRAINT uq_predictions_source_input DO NOTHING "
        "RETURNING source, input_id"
    )


_INSERT = _insert_sql()
_SHADOW_ARRAYS = 6
"""prediction_id, model_version, model_name, price, lower_bound, upper_bound."""


def _insert_with_shadow_sql() -> str:
    """:data:`_INSERT`, and in the same statement the challenger's answers of the rows it
    inserted (a row that was already stored keeps the shadow its first delivery stored): one
    round trip, and a prediction is never stored without its shadow answer."""
    first = len(_COLUMNS) + 1
    arrays = ", ".join(
        f"${first + i}::{kind}[]"
        for i, kind in enumerate(("text", "text", "text", "float8", "float8", "float8"))
    )
    return (
        f"WITH inserted AS ({_INSERT}, prediction_id), shadow AS ("  # nosec B608
        f"INSERT INTO {shadow_predictions.name} "
        "(prediction_id, model_version, model_name, price, lower_bound, upper_bound) "
        f"SELECT s.* FROM unnest({arrays}) AS s(prediction_id, model_version, model_name, "
        "price, lower_bound, upper_bound) "
        "WHERE s.prediction_id IN (SELECT prediction_id FROM inserted) ON CONFLICT DO NOTHING) "
        "SELECT source, input_id FROM inserted"
    )


_INSERT_WITH_SHADOW = _insert_with_shadow_sql()


def _shadow_arrays(rows: Iterable[PredictionRow]) -> list[list[Any]]:
    """The shadow statement's parameters (empty lists: no row has a shadow answer)."""
    out: list[list[Any]] = [[] for _ in range(_SHADOW_ARRAYS)]
    for row in rows:
        answer = row.shadow
        if answer is None:
            continue
        values = (row.prediction_id, answer.model_version, row.model_name, answer.price)
        for i, value in enumerate((*values, answer.lower_bound, answer.upper_bound)):
            out[i].append(value)
    return out


def _arrays(rows: Iterable[PredictionRow]) -> list[list[Any]]:
    """One list per column (in :data:`_COLUMNS` order): the statement's parameters."""
    out: list[list[Any]] = [[] for _ in _COLUMNS]
    for row in rows:
        for i, c in enumerate(_COLUMNS):
            value = getattr(row, c)
            out[i].append(orjson.dumps(value).decode() if c in _JSON else value)
    return out


_LOOKUP = (
    f"SELECT {', '.join(_COLUMNS)} FROM {_TABLE.name} "  # nosec B608
    "WHERE (source, input_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
"""The stored rows of ``(source, input_id)`` pairs (those a previous delivery inserted)."""


def _row_of(record: Mapping[str, Any]) -> PredictionRow:
    values = {c: record[c] for c in _COLUMNS}
    for c in _JSON:  # jsonb arrives as text (no codec on the connection)
        if isinstance(values[c], str):
            values[c] = orjson.loads(values[c])
    return PredictionRow(**values)


def _is_disconnect(exc: BaseException) -> bool:
    """A lost or refused server connection (worth one retry on a fresh one), as opposed to an
    error in the statement or the data."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state.startswith(("08", "57P"))  # connection exception, operator intervention
    # InternalClientError: the driver's protocol state is broken, e.g. by the FATAL notice of a
    # terminated backend arriving between two statements; the connection is unusable.
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError | OSError)


class SqlPredictionStore:
    """Bulk insert (``ON CONFLICT DO NOTHING RETURNING``) plus one look-up of the conflicts.

    Statements run on a plain asyncpg pool (prepared statements, cached per connection; see
    :func:`valora_db.create_driver_pool`): a SQLAlchemy checkout and a reset on release would
    each cost about as much as the insert of a few rows. Disconnects are handled
    optimistically: the broken connection is closed (the pool opens a new one) and the batch
    retried once; if that fails too the error propagates and the input is redelivered.
    :meth:`start` opens the pool (lazily connecting), :meth:`close` closes it.
    """

    def __init__(
        self,
        *,
        database_url: str,
        pool_size: int,
        application_name: str,
        command_timeout_s: float = 15.0,
    ) -> None:
        self._url = database_url
        self._size = pool_size
        self.application_name = application_name
        self._timeout = command_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await create_driver_pool(
                self._url,
                size=self._size,
                application_name=self.application_name,
                command_timeout_s=self._timeout,
                connect_timeout_s=self._timeout,
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        unique: dict[RowKey, PredictionRow] = {}
        for row in rows:
            unique.setdefault(row.key, row)
        if not unique:
            return {}
        if self._pool is None:
            raise RuntimeError("the prediction store is not started")
        arrays = _arrays(unique.values())
        shadows = _shadow_arrays(unique.values())
        if shadows[0]:
            arrays = [*arrays, *shadows]
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(2), retry=retry_if_exception(_is_disconnect), reraise=True
        ):
            with attempt:
                return await self._save_once(self._pool, unique, arrays, self._timeout)
        raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover

    @staticmethod
    async def _save_once(
        pool: asyncpg.Pool,
        unique: dict[RowKey, PredictionRow],
        arrays: list[list[Any]],
        timeout_s: float,
    ) -> dict[RowKey, PredictionRow]:
        async with pool.acquire(timeout=timeout_s) as conn:
            try:
                statement = _INSERT_WITH_SHADOW if len(arrays) > len(_COLUMNS) else _INSERT
                records = await conn.fetch(statement, *arrays)  # autocommits: one statement
                inserted = {(r["source"], r["input_id"]) for r in records}
                stored = {k: unique[k] for k in inserted}
                existing = [k for k in unique if k not in inserted]
                if existing:
                    found = await conn.fetch(
                        _LOOKUP, [k[0] for k in existing], [k[1] for k in existing]
                    )
                    for record in found:
                        row = _row_of(record)
                        stored[row.key] = row
            except BaseException as exc:
                if _is_disconnect(exc):
                    conn.terminate()  # closed: the pool replaces it instead of handing it out
                raise
        return stored
