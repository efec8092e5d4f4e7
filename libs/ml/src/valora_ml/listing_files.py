"""Listing files (CSV, JSONL, Parquet) read as records, each row good or bad with its reason.

The one reader behind ``valora listings publish FILE`` and the gateway's batch-job uploads, so
a file means the same thing to both. The rules:

- **CSV**: UTF-8 (a byte-order mark is skipped), comma- or tab-separated (whichever the first
  4 KiB holds more of), the first line is the header; keys and cells are stripped. A row with
  more or fewer cells than the header is bad.
- **JSONL**: one JSON object per line; blank lines are skipped; a line that is not JSON, or not
  an object, is bad.
- **Parquet**: one record per row.
- **Every format**: empty cells, nulls and NaN read as absent; a row without one of the six
  features (English or Portuguese name: area/area, bedrooms/quartos, bathrooms/banheiros,
  age/idade, garage/garagem, neighbourhood/bairro) is bad. Values are not judged here: the
  caller validates (the gateway against ``ListingFeatures``, the platform at ingestion).

A problem with the whole file (not UTF-8, broken CSV quoting, unreadable Parquet, unknown
format) raises :class:`ListingFileError`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from valora_contracts import FEATURE_ALIASES

from valora_ml.errors import MlError

__all__ = [
    "BadRow",
    "FileRow",
    "ListingFileError",
    "ListingFormat",
    "ListingRow",
    "listing_format",
    "read_listing_bytes",
    "read_listing_file",
]

ListingFormat = Literal["csv", "jsonl", "parquet"]
_FEATURES = tuple((en, pt) for pt, en in FEATURE_ALIASES.items() if en != "price")
_SAMPLE = 4096


class ListingFileError(MlError):
    """The file as a whole cannot be read (its rows are not even reached)."""


@dataclass(frozen=True, slots=True)
class ListingRow:
    """A readable row: ``values`` by the file's own names (features in either language)."""

    index: int
    """0-based position among the file's rows, bad ones included."""
    line: int
    """Where it is, for people: the line (CSV, JSONL) or the row number (Parquet), from 1."""
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be a listing, and why."""

    index: int
    line: int
    reason: str


FileRow = ListingRow | BadRow


def listing_format(name: str | None, content_type: str | None = None) -> ListingFormat:
    """The format of a file from its name (extension) or, failing that, its content type."""
    suffix = Path(name or "").suffix.lower()
    kind = (content_type or "").lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if "json" in kind:
        return "jsonl"
    if "parquet" in kind:
        return "parquet"
    if "csv" in kind or "tab-separated" in kind or "text/plain" in kind:
        return "csv"
    raise ListingFileError(f"cannot tell the format of {name or 'the file'!r}")


def read_listing_bytes(data: bytes, fmt: ListingFormat) -> Iterator[FileRow]:
    """The rows of a file held in memory."""
    if fmt == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ListingFileError(f"the CSV file is not UTF-8: {exc}") from exc
        return _checked(_csv_rows(io.StringIO(text, newline="")))
    if fmt == "jsonl":
        return _checked(_jsonl_rows(data.splitlines()))
    return _checked(_parquet_rows(io.BytesIO(data)))


def read_listing_file(path: Path, fmt: ListingFormat | None = None) -> Iterator[FileRow]:
    """The rows of a file on disk, read as they are consumed (``fmt`` from the name if not
    given); ``OSError`` when it cannot be opened."""
    chosen = fmt or listing_format(path.name)
    if chosen == "csv":
        yield from _checked(_csv_file_rows(path))
    elif chosen == "jsonl":
        with path.open("rb") as handle:
            yield from _checked(_jsonl_rows(handle))
    else:
        yield from _checked(_parquet_rows(path))


_Raw = Iterator[tuple[int, dict[str, Any] | str]]
"""(line, values) of a readable row, or (line, reason) of a bad one."""


def _checked(raw: _Raw) -> Iterator[FileRow]:
    """Number the rows, drop absent values, and reject rows without every feature."""
    for index, (line, item) in enumerate(raw):
        if isinstance(item, str):
            yield BadRow(index, line, item)
            continue
        values = {k: v for k, v in item.items() if not _absent(v)}
        missing = [en for en, pt in _FEATURES if en not in values and pt not in values]
        if missing:
            yield BadRow(index, line, f"missing feature(s): {', '.join(missing)}")
        else:
            yield ListingRow(index, line, values)


def _absent(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _csv_file_rows(path: Path) -> _Raw:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            yield from _csv_rows(handle)
        except UnicodeDecodeError as exc:
            raise ListingFileError(f"the CSV file is not UTF-8: {exc}") from exc


def _csv_rows(handle: IO[str]) -> _Raw:
    sample = handle.read(_SAMPLE)
    handle.seek(0)
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.DictReader(handle, delimiter=delimiter)
    try:
        for row in reader:
            if None in row:
                yield reader.line_num, "more cells than header columns"
            elif any(v is None for v in row.values()):
                yield reader.line_num, "fewer cells than header columns"
            else:
                yield reader.line_num, {k.strip(): v.strip() for k, v in row.items() if k}
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        raise ListingFileError(f"the CSV file is malformed ({where}): {exc}") from exc


def _jsonl_rows(lines: Iterable[bytes]) -> _Raw:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc}"
            continue
        if isinstance(value, dict):
            yield number, value
        else:
            yield number, f"expected a JSON object, got {type(value).__name__}"


def _parquet_rows(source: Path | IO[bytes]) -> _Raw:
    import pyarrow as pa
    import pyarrow.parquet as pq

    number = 0
    try:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except pa.ArrowException as exc:
        raise ListingFileError(f"the Parquet file cannot be read: {exc}") from exc
