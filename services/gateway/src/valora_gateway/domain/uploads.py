"""Batch-job uploads: a file's bytes to job rows, by the shared listing-file rules.

The rows are read by :mod:`valora_ml.listing_files` (the same reader as
``valora listings publish``); each readable row is then held to ``ListingFeatures`` (the
listing's price, if any, is ignored) and to the data contract (a house the platform would
reject is not valued: its reason names the rule). Invalid rows keep their reason and are
reported in the results, never valued. :func:`upload_rows` reads a spooled file lazily, so an
upload is never held in memory whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from valora_contracts import FEATURE_ALIASES, ListingFeatures
from valora_ml.listing_files import (
    BadRow,
    FileRow,
    ListingFileError,
    ListingRow,
    listing_format,
    read_listing_bytes,
    read_listing_file,
)

from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.domain.jobs import JobRow
from valora_gateway.errors import InvalidUploadError, TooManyItemsError

__all__ = ["UploadFormat", "detect_format", "job_rows", "parse_upload", "upload_rows"]

UploadFormat = Literal["csv", "jsonl"]
_FEATURE_KEYS = (frozenset(FEATURE_ALIASES) | frozenset(FEATURE_ALIASES.values())) - {
    "price",
    "preco",
}
_ID_LENGTH = 255


def detect_format(filename: str | None, content_type: str | None) -> UploadFormat:
    """CSV or JSONL, from the file name or else the content type."""
    try:
        fmt = listing_format(filename, content_type)
    except ListingFileError:
        fmt = None
    if fmt == "csv" or fmt == "jsonl":
        return fmt
    raise InvalidUploadError("unknown file type: upload a .csv or .jsonl file")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "row"
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _number(value: Any) -> Any:
    """A CSV feature cell as JSON would carry it: whole numbers as ``int``, decimals as
    ``float`` (CSV has no types, and the contract's numbers are strict); anything else as is,
    for the contract to reject with the field named."""
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            return int(text)
        if _DECIMAL.match(text):
            return float(text)
    return value


def _job_row(row: ListingRow | BadRow, job_id: str, check: HouseCheck | None) -> JobRow:
    input_id = f"{job_id}:{row.index}"
    if isinstance(row, BadRow):
        return JobRow(row.index, input_id, None, None, f"line {row.line}: {row.reason}")
    listing_id = row.values.get("listing_id")
    listing = str(listing_id)[:_ID_LENGTH] if listing_id not in (None, "") else None
    features: dict[str, Any] | None = None
    error: str | None = None
    try:
        parsed = ListingFeatures.model_validate(
            {k: _number(v) for k, v in row.values.items() if k in _FEATURE_KEYS}
        )
    except ValidationError as exc:
        return JobRow(row.index, input_id, listing, None, _describe(exc))
    broken = check.violations(parsed) if check is not None else []
    if broken:
        error = "data contract: " + "; ".join(f"{v.rule}: {v.message}" for v in broken)
    else:
        features = parsed.model_dump()
    return JobRow(row.index, input_id, listing, features, error)


def job_rows(
    rows: Iterable[FileRow], *, job_id: str, max_rows: int, check: HouseCheck | None = None
) -> Iterator[JobRow]:
    """Every row of a file as it is read; invalid ones carry their error (``check``: the data
    contract). Raises :class:`InvalidUploadError` (unreadable or empty file) or
    :class:`TooManyItemsError`."""
    empty = True
    try:
        for row in rows:
            if row.index >= max_rows:
                raise TooManyItemsError(f"the file has more than {max_rows} rows")
            empty = False
            yield _job_row(row, job_id, check)
    except ListingFileError as exc:
        raise InvalidUploadError(str(exc)) from exc
    if empty:
        raise InvalidUploadError("the file has no rows")


def upload_rows(
    path: Path, *, fmt: UploadFormat, job_id: str, max_rows: int, check: HouseCheck | None = None
) -> Iterator[JobRow]:
    """The rows of a spooled upload, read lazily (blocking: iterate off the event loop)."""
    return job_rows(read_listing_file(path, fmt), job_id=job_id, max_rows=max_rows, check=check)


def parse_upload(
    data: bytes, *, fmt: UploadFormat, job_id: str, max_rows: int, check: HouseCheck | None = None
) -> list[JobRow]:
    """Every row of a file held in memory."""
    try:
        rows = read_listing_bytes(data, fmt)
    except ListingFileError as exc:
        raise InvalidUploadError(str(exc)) from exc
    return list(job_rows(rows, job_id=job_id, max_rows=max_rows, check=check))
