"""Batch jobs: parse an uploaded CSV/JSONL file, store it, and drive it to completion.

The job and every row are stored in PostgreSQL before ``202`` is answered. A runner (any gateway
instance holding the job's lease) sends the rows as ``source="batch"`` requests in chunks;
completion is read from the stored predictions. If they stop growing (the predictor died, a
request was lost), the rows still without a prediction are sent again: the predictor stores
``(batch, <job>:<row>)`` once, so re-sending never duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError
from valora_contracts import FEATURE_ALIASES, ListingFeatures, PredictionInput

from valora_gateway.client import PredictionClient
from valora_gateway.errors import GatewayError, InvalidUploadError, TooManyItemsError
from valora_gateway.repository import JobRowIn, Repository

__all__ = ["BatchJobRunner", "UploadFormat", "detect_format", "parse_upload"]

logger = logging.getLogger(__name__)
UploadFormat = Literal["csv", "jsonl"]
_FEATURE_KEYS = frozenset(FEATURE_ALIASES) | frozenset(FEATURE_ALIASES.values())
_FEATURE_KEYS_NO_PRICE = _FEATURE_KEYS - {"price", "preco"}


def detect_format(filename: str | None, content_type: str | None) -> UploadFormat:
    name = (filename or "").lower()
    kind = (content_type or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")) or "json" in kind:
        return "jsonl"
    if name.endswith((".csv", ".txt")) or "csv" in kind or "text/plain" in kind:
        return "csv"
    raise InvalidUploadError("unknown file type: upload a .csv or .jsonl file")


def _records(data: bytes, fmt: UploadFormat) -> Iterator[dict[str, Any]]:
    if fmt == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidUploadError(f"the CSV file is not UTF-8: {exc}") from exc
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise InvalidUploadError("the CSV file has no header row")
        try:
            for row in reader:
                yield {k: v for k, v in row.items() if k is not None and v not in ("", None)}
        except csv.Error as exc:
            raise InvalidUploadError(
                f"the CSV file is malformed (line {reader.line_num}): {exc}"
            ) from exc
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidUploadError(f"line {number} is not valid JSON: {exc}") from exc
        yield value if isinstance(value, dict) else {"__not_an_object__": value}


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "row"
        parts.append(f"{field}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def parse_upload(data: bytes, *, fmt: UploadFormat, job_id: str, max_rows: int) -> list[JobRowIn]:
    """Every row of the file; invalid ones carry their error (and are reported, not valued)."""
    rows: list[JobRowIn] = []
    for index, record in enumerate(_records(data, fmt)):
        if index >= max_rows:
            raise TooManyItemsError(f"the file has more than {max_rows} rows")
        listing_id = record.get("listing_id")
        listing = str(listing_id) if listing_id not in (None, "") else None
        features: dict[str, Any] | None = None
        error: str | None = None
        if "__not_an_object__" in record:
            error = "row is not a JSON object"
        else:
            try:
                parsed = ListingFeatures.model_validate(
                    {k: v for k, v in record.items() if k in _FEATURE_KEYS_NO_PRICE}
                )
                features = parsed.model_dump()
            except ValidationError as exc:
                error = _describe(exc)
        rows.append(
            JobRowIn(
                row_index=index,
                input_id=f"{job_id}:{index}",
                listing_id=listing[:255] if listing else None,
                features=features,
                error=error,
            )
        )
    if not rows:
        raise InvalidUploadError("the file has no rows")
    return rows


@dataclass
class _Watch:
    predicted: int
    since: float


class BatchJobRunner:
    """Sends the rows of leased jobs, watches their progress, re-sends stalled rows."""

    def __init__(
        self,
        *,
        repo: Repository,
        client: PredictionClient,
        owner: str,
        chunk_rows: int,
        poll_s: float,
        stall_s: float,
        lease_s: float,
    ) -> None:
        self._repo = repo
        self._client = client
        self._owner = owner
        self._chunk = chunk_rows
        self._poll = poll_s
        self._stall = stall_s
        self._lease = lease_s
        self._watch: dict[str, _Watch] = {}
        self._kick = asyncio.Event()

    def kick(self) -> None:
        """Look at the jobs now (e.g. one was just created)."""
        self._kick.set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("batch-job runner tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._poll)
            self._kick.clear()

    async def tick(self) -> None:
        for job_id in await self._repo.claim_jobs(owner=self._owner, lease_s=self._lease):
            await self._drive(job_id)

    async def _drive(self, job_id: str) -> None:
        progress = await self._repo.progress(job_id)
        if progress is None or progress.status == "completed":
            self._watch.pop(job_id, None)
            return
        now = time.monotonic()
        watch = self._watch.get(job_id)
        if watch is None:
            sent = await self._send_missing(job_id)
            await self._repo.set_status(job_id, "running")
            logger.info("batch job dispatched", extra={"job_id": job_id, "rows": sent})
            self._watch[job_id] = _Watch(progress.predicted_rows, now)
        elif progress.predicted_rows > watch.predicted:
            self._watch[job_id] = _Watch(progress.predicted_rows, now)
        elif now - watch.since >= self._stall:
            sent = await self._send_missing(job_id)
            logger.warning(
                "batch job stalled: rows re-sent", extra={"job_id": job_id, "rows": sent}
            )
            self._watch[job_id] = _Watch(progress.predicted_rows, now)

    async def _send_missing(self, job_id: str) -> int:
        rows = await self._repo.unpredicted_rows(job_id)
        for start in range(0, len(rows), self._chunk):
            chunk = rows[start : start + self._chunk]
            items = [
                PredictionInput(
                    input_id=input_id,
                    listing_id=listing_id,
                    features=ListingFeatures.model_validate(features),
                )
                for input_id, listing_id, features in chunk
            ]
            try:
                await self._client.send_batch_chunk(job_id=job_id, items=items)
            except GatewayError as exc:
                logger.warning("batch chunk not sent", extra={"job_id": job_id, "error": str(exc)})
                break
        return len(rows)
