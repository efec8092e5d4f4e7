"""Batch jobs as values: an uploaded row, a job's progress, a row of its results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "RESULT_COLUMNS",
    "JobCounts",
    "JobProgress",
    "JobResult",
    "JobRow",
    "csv_header",
    "results_as_csv",
    "results_as_jsonl",
]

RESULT_COLUMNS = (
    "row_index", "listing_id", "area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood",
    "predicted_price", "lower_bound", "upper_bound", "model_name", "model_version",
    "prediction_id", "warnings", "error",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobRow:
    """One row of an upload: valid rows carry features, invalid ones the reason."""

    row_index: int
    input_id: str
    listing_id: str | None
    features: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True, slots=True)
class JobCounts:
    """Rows of a stored upload, and how many of them are invalid."""

    total: int
    invalid: int

    @property
    def status(self) -> str:
        """A job with no valid row is completed at once."""
        return "completed" if self.invalid == self.total else "pending"


@dataclass(frozen=True, slots=True)
class JobProgress:
    job_id: str
    status: str
    filename: str | None
    total_rows: int
    invalid_rows: int
    predicted_rows: int
    created_at: datetime
    completed_at: datetime | None
    error: str | None

    @property
    def valid_rows(self) -> int:
        return self.total_rows - self.invalid_rows

    @property
    def done(self) -> bool:
        return self.predicted_rows >= self.valid_rows

    @property
    def share(self) -> float:
        """Share of valid rows with a stored prediction (1 when there are none)."""
        return round(self.predicted_rows / self.valid_rows, 4) if self.valid_rows else 1.0


@dataclass(frozen=True, slots=True)
class JobResult:
    """One row of a job with its prediction, if stored yet."""

    row_index: int
    listing_id: str | None
    features: dict[str, Any] | None
    error: str | None
    prediction_id: str | None = None
    price: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    model_name: str | None = None
    model_version: str | None = None
    warnings: Sequence[str] | None = None

    def record(self) -> dict[str, Any]:
        """The row as the results file shows it (see :data:`RESULT_COLUMNS`)."""
        return {
            "row_index": self.row_index,
            "listing_id": self.listing_id,
            **(self.features or {}),
            "predicted_price": self.price,
            "lower_bound": self.lower_bound,
            "upper_bound": self.upper_bound,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "prediction_id": self.prediction_id,
            "warnings": "; ".join(self.warnings or []) or None,
            "error": self.error or (None if self.prediction_id else "not predicted yet"),
        }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_header() -> bytes:
    return (",".join(RESULT_COLUMNS) + "\n").encode()


def results_as_csv(results: Iterable[JobResult]) -> bytes:
    """CSV lines (no header) of ``results``."""
    lines = []
    for result in results:
        record = result.record()
        lines.append(",".join(_csv_cell(record.get(c)) for c in RESULT_COLUMNS).encode() + b"\n")
    return b"".join(lines)


def results_as_jsonl(results: Iterable[JobResult]) -> bytes:
    """JSON Lines of ``results``."""
    return b"".join(orjson.dumps(r.record()) + b"\n" for r in results)
