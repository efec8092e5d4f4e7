"""A stored prediction (:class:`PredictionRow`), its idempotency key, and where rows go
(:class:`PredictionStore`; PostgreSQL's is
:class:`~valora_predictor.adapters.store.SqlPredictionStore`); the challenger's answer to it
(:class:`ShadowAnswer`, stored with the row by the same store, never returned to a caller)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["PredictionRow", "PredictionStore", "RowKey", "ShadowAnswer"]

RowKey = tuple[str, str]
"""``(source, input_id)``: the idempotency key of a prediction."""


@dataclass(frozen=True, slots=True)
class ShadowAnswer:
    """The challenger's valuation of the same input, in the same batch."""

    model_version: str
    price: float
    lower_bound: float
    upper_bound: float


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
    expected_abs_error: float | None = None
    """The model's estimate of this prediction's absolute error (``None``: it has no error
    model)."""
    shadow: ShadowAnswer | None = None
    """The challenger's answer (stored beside the row in ``shadow_predictions``, never
    returned)."""

    @property
    def key(self) -> RowKey:
        return (self.source, self.input_id)


class PredictionStore(Protocol):
    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        """Store ``rows`` idempotently, each row's shadow answer with it; return the stored row
        of every key."""
        ...
