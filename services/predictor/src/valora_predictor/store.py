"""Where predictions are stored: PostgreSQL, idempotently, in bulk.

``save`` inserts with ``ON CONFLICT (source, input_id) DO NOTHING`` and returns, for every input,
the row that is stored: the new one, or the one a previous delivery stored (so a redelivered
request is answered with the prediction id, price and model version already on record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_db.predictions_store import Prediction

__all__ = ["PredictionRow", "PredictionStore", "RowKey", "SqlPredictionStore"]

RowKey = tuple[str, str]
"""``(source, input_id)``: the idempotency key of a prediction."""


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One prediction as stored."""

    prediction_id: str
    source: str
    input_id: str
    listing_id: str | None
    batch_job_id: str | None
    correlation_id: str | None
    features: dict[str, Any]
    price: float
    lower_bound: float
    upper_bound: float
    interval_level: float
    model_name: str
    model_version: str
    run_id: str
    input_hash: str
    trace_id: str
    latency_ms: float
    warnings: list[str] = field(default_factory=list)

    @property
    def key(self) -> RowKey:
        return (self.source, self.input_id)


class PredictionStore(Protocol):
    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        """Store ``rows`` idempotently; return the stored row of every key."""
        ...


_COLUMNS = tuple(PredictionRow.__dataclass_fields__)
_TABLE = cast(Table, Prediction.__table__)
_SQL_TYPES = {
    "features": "jsonb",
    "warnings": "jsonb",
    "price": "float8",
    "lower_bound": "float8",
    "upper_bound": "float8",
    "interval_level": "float8",
    "latency_ms": "float8",
}
_JSON = ("features", "warnings")


def _insert_sql() -> str:
    """One ``INSERT .. SELECT FROM unnest(arrays)``: a single round trip for a whole batch, far
    cheaper than a multi-row VALUES with a parameter per cell."""
    columns = ", ".join(_COLUMNS)
    arrays = ", ".join(
        f"CAST(:{c} AS {'text' if c in _JSON else _SQL_TYPES.get(c, 'text')}[])" for c in _COLUMNS
    )
    selected = ", ".join(f"CAST(t.{c} AS jsonb)" if c in _JSON else f"t.{c}" for c in _COLUMNS)
    return (
        f"INSERT INTO predictions ({columns}) SELECT {selected} "
        f"FROM unnest({arrays}) AS t({columns}) "
        "ON CONFLICT ON CONSTRAINT uq_predictions_source_input DO NOTHING "
        "RETURNING source, input_id"
    )


_INSERT = text(_insert_sql())


def _arrays(rows: Sequence[PredictionRow]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    for row in rows:
        for c in _COLUMNS:
            value = getattr(row, c)
            out[c].append(orjson.dumps(value).decode() if c in _JSON else value)
    return out


class SqlPredictionStore:
    """Bulk insert (``ON CONFLICT DO NOTHING RETURNING``) plus one look-up of the conflicts."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        unique: dict[RowKey, PredictionRow] = {}
        for row in rows:
            unique.setdefault(row.key, row)
        if not unique:
            return {}
        # One statement is atomic on its own: autocommit saves the BEGIN and COMMIT round trips.
        async with self._engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(_INSERT, _arrays(list(unique.values())))
            inserted = {(s, i) for s, i in result.all()}
            existing = [k for k in unique if k not in inserted]
            stored = {k: unique[k] for k in inserted}
            if existing:
                query = select(*(_TABLE.c[c] for c in _COLUMNS)).where(
                    tuple_(_TABLE.c.source, _TABLE.c.input_id).in_(existing)
                )
                for record in (await conn.execute(query)).mappings():
                    row = PredictionRow(**dict(record))
                    stored[row.key] = row
        return stored
