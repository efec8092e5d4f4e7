"""The predictor's stored predictions, as other services may read them.

Built from the :data:`~valora_db.tables.predictor.predictions` table, so a renamed or retyped
column breaks here (and in mypy) rather than in a raw SQL string. Every function takes an open
connection, so a caller can combine it with its own statements in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from valora_db.tables.predictor import predictions

__all__ = [
    "StoredPrediction",
    "batch_predictions",
    "count_batch_job_predictions",
    "get_prediction",
]

_P = predictions.c


@dataclass(frozen=True, slots=True)
class StoredPrediction:
    """One stored prediction with its lineage."""

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
    warnings: list[str]
    input_hash: str
    trace_id: str
    latency_ms: float
    created_at: datetime
    expected_abs_error: float | None = None
    """The error model's estimate of the absolute error (``None``: none)."""


_COLUMNS = [predictions.c[f.name] for f in fields(StoredPrediction)]


async def get_prediction(conn: AsyncConnection, prediction_id: str) -> StoredPrediction | None:
    """The prediction with ``prediction_id``, or ``None``."""
    query = select(*_COLUMNS).where(_P.prediction_id == prediction_id)
    row = (await conn.execute(query)).mappings().first()
    return StoredPrediction(**row) if row is not None else None


async def count_batch_job_predictions(conn: AsyncConnection, batch_job_id: str) -> int:
    """How many predictions are stored for the batch job (each row is stored at most once)."""
    query = select(func.count()).select_from(predictions).where(_P.batch_job_id == batch_job_id)
    return int((await conn.execute(query)).scalar_one())


def batch_predictions() -> Subquery:
    """Predictions of batch inputs, to join on ``input_id`` (``<job id>:<row index>``).

    Columns: ``input_id, prediction_id, price, lower_bound, upper_bound, model_name,
    model_version, warnings``.
    """
    return (
        select(
            _P.input_id,
            _P.prediction_id,
            _P.price,
            _P.lower_bound,
            _P.upper_bound,
            _P.model_name,
            _P.model_version,
            _P.warnings,
        )
        .where(_P.source == "batch")
        .subquery("batch_predictions")
    )
