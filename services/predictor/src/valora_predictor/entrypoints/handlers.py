"""The predictor's handlers: prediction requests and validated listings (the models' lifecycle:
:mod:`.models`).

Plain classes with keyword-only dependencies; entrypoints only convert records and call them.
Every handler runs under the consumers' error policy (``valora_messaging.ErrorPolicy``): a raised
error is classified (retried, isolated and dead-lettered, or left for redelivery), and storage
is idempotent, so a redelivery never adds a row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from valora_contracts import (
    LISTINGS_VALIDATED,
    PREDICTIONS_MADE,
    PREDICTIONS_REQUESTS,
    PREDICTIONS_SHADOW,
    PredictionErrorCode,
    PredictionReply,
    PredictionRequested,
    PredictionResult,
    ValidatedListing,
)
from valora_messaging import (
    BatchSink,
    FailedRecord,
    InRecord,
    OutgoingRecord,
    commit_offsets,
    encode_event,
    to_failed,
)
from valora_messaging.tracing import record_trace_id

from valora_predictor.adapters.output import Output, PredictorMetrics
from valora_predictor.domain.predictions import PredictionRow
from valora_predictor.domain.shadow import shadow_event
from valora_predictor.domain.valuation import ValuationItem, Valuer, made_event, result_of
from valora_predictor.errors import (
    InvalidRecordError,
    NoChampionError,
    PredictionFailedError,
    UnknownReplyTopicError,
)

__all__ = [
    "RequestHandler",
    "StreamHandler",
    "stream_input_id",
]

logger = logging.getLogger(__name__)
NO_CHAMPION = "no champion model is being served yet"


def _made_records(
    rows: Sequence[PredictionRow],
    items: Sequence[ValuationItem],
    results: Sequence[PredictionResult] | None = None,
) -> list[OutgoingRecord]:
    if not rows:  # nothing valued (no champion, model error)
        return []
    made = [
        OutgoingRecord(
            topic=PREDICTIONS_MADE.name,
            value=encode_event(
                made_event(
                    r,
                    features=item.features,
                    result=results[i] if results else None,
                    asking_price=item.asking_price,
                )
            ),
            key=(r.listing_id or r.input_id).encode(),
        )
        for i, (r, item) in enumerate(zip(rows, items, strict=True))
    ]
    shadow = [
        OutgoingRecord(
            topic=PREDICTIONS_SHADOW.name,
            value=encode_event(event),
            key=(r.listing_id or r.input_id).encode(),
        )
        for r in rows
        if (event := shadow_event(r)) is not None
    ]
    return made + shadow


@dataclass(frozen=True)
class RequestOutcome:
    requests: int
    predictions: int
    errors: int
    dead_lettered: int


class RequestHandler:
    """``predictions.requests.v1``: value every request of a batch in one call, reply to each.

    A record that is not a request, or names a reply topic that does not exist, is
    dead-lettered (nobody could be answered); a model error is answered ``prediction_failed``
    and no champion ``no_champion``: the caller learns at once.
    """

    def __init__(self, *, valuer: Valuer, output: Output, metrics: PredictorMetrics) -> None:
        self._valuer = valuer
        self._output = output
        self._metrics = metrics

    async def _decode(
        self, records: Sequence[InRecord]
    ) -> tuple[list[PredictionRequested], list[FailedRecord]]:
        decoded: list[tuple[InRecord, PredictionRequested]] = []
        failed: list[FailedRecord] = []
        for record in records:
            try:
                decoded.append((record, PredictionRequested.model_validate_json(record.value)))
            except ValueError as exc:
                failed.append(to_failed(record, InvalidRecordError(f"invalid request: {exc}")))
        existing = await self._output.existing_topics({req.reply_to for _, req in decoded})
        requests: list[PredictionRequested] = []
        for record, req in decoded:
            if req.reply_to in existing:
                # while tracing is on, lineage keeps the OpenTelemetry trace the request came in
                traced = record_trace_id(record)
                requests.append(req if traced in (None, req.trace_id) else _retraced(req, traced))
            else:
                error = UnknownReplyTopicError(f"reply topic {req.reply_to!r} does not exist")
                failed.append(to_failed(record, error))
        return requests, failed

    async def handle_batch(self, records: Sequence[InRecord]) -> RequestOutcome:
        started = time.perf_counter()
        requests, failed = await self._decode(records)
        items = [
            ValuationItem(
                source=req.source,
                input_id=item.input_id,
                listing_id=item.listing_id,
                features=item.features,
                trace_id=req.trace_id,
                batch_job_id=req.batch_job_id,
                correlation_id=req.correlation_id,
            )
            for req in requests
            for item in req.items
        ]
        error: str | None = None
        code: PredictionErrorCode | None = None
        rows: list[PredictionRow] = []
        if items:
            try:
                rows = await self._valuer.value(items)
            except NoChampionError:
                error, code = NO_CHAMPION, "no_champion"
            except PredictionFailedError as exc:
                logger.error("prediction failed", extra={"error": str(exc)[:500]})
                error, code = f"prediction failed: {exc}", "prediction_failed"
        outgoing: list[OutgoingRecord] = []
        results = [result_of(r) for r in rows]
        position = 0
        for req in requests:
            if error is None:
                mine = results[position : position + len(req.items)]
                position += len(req.items)
                reply = PredictionReply(
                    correlation_id=req.correlation_id, trace_id=req.trace_id, results=mine
                )
            else:
                reply = PredictionReply(
                    correlation_id=req.correlation_id,
                    trace_id=req.trace_id,
                    error=error,
                    error_code=code,
                )
            outgoing.append(
                OutgoingRecord(
                    topic=req.reply_to, value=encode_event(reply), key=req.correlation_id.encode()
                )
            )
        outgoing.extend(_made_records(rows, items, results))
        await self._output.reply(outgoing)
        await self._output.dead_letter(source=PREDICTIONS_REQUESTS, records=failed)
        m = self._metrics
        if error is not None:
            m.errors.labels(
                m.base.service, "no_champion" if code == "no_champion" else "model"
            ).inc(len(requests))
        if rows:
            m.observe(
                topic=PREDICTIONS_REQUESTS.name, rows=rows, seconds=time.perf_counter() - started
            )
        return RequestOutcome(
            requests=len(requests),
            predictions=len(rows),
            errors=len(requests) if error else 0,
            dead_lettered=len(failed),
        )


def _retraced(request: PredictionRequested, trace_id: str) -> PredictionRequested:
    return request.model_copy(update={"trace_id": trace_id})


def stream_input_id(listing: ValidatedListing) -> str:
    """Idempotency key of a streamed listing: the same listing content is valued once."""
    key = f"{listing.listing_id}:{listing.content_hash[:32]}"
    if len(key) <= 255:
        return key
    return "h:" + hashlib.blake2b(key.encode(), digest_size=32).hexdigest()


class StreamHandler:
    """``listings.validated.v1``: value every new listing (vectorised), store, publish.

    The stored rows are idempotent (a redelivered listing gets the row already stored); the
    ``predictions.made.v1`` events and dead letters go through ``sink`` with the input offsets:
    with per-partition transactions a replica that lost its partitions (frozen, partitioned)
    cannot publish them a second time, so ``read_committed`` readers (the drift monitor) see
    each prediction once. Without a champion it raises :class:`NoChampionError` (transient: the
    consumers' error policy backs off and the listings wait, never lost); a model error raises
    :class:`PredictionFailedError` (permanent: the policy isolates the listing the model fails
    on and dead-letters only that one).
    """

    def __init__(
        self,
        *,
        valuer: Valuer,
        sink: BatchSink,
        metrics: PredictorMetrics,
        chunk_rows: int = 500,
    ) -> None:
        self._valuer = valuer
        self._sink = sink
        self._metrics = metrics
        self._chunk = max(1, chunk_rows)

    async def handle_batch(self, records: Sequence[InRecord]) -> int:
        """Returns the number of predictions."""
        started = time.perf_counter()
        items: list[ValuationItem] = []
        failed: list[FailedRecord] = []
        for record in records:
            try:
                listing = ValidatedListing.model_validate_json(record.value)
            except ValueError as exc:
                failed.append(to_failed(record, InvalidRecordError(f"invalid listing: {exc}")))
                continue
            items.append(
                ValuationItem(
                    source="stream",
                    input_id=stream_input_id(listing),
                    listing_id=listing.listing_id,
                    features=listing.features,
                    trace_id=record_trace_id(record) or listing.trace_id,
                    listed_at=listing.listed_at,
                    asking_price=listing.price,
                )
            )
        if items and not self._valuer.has_champion:
            raise NoChampionError("no champion model is being served yet")
        chunks = [items[i : i + self._chunk] for i in range(0, len(items), self._chunk)]
        # Chunks run concurrently: one's database round trip overlaps another's model call.
        # Any failure raises to the error policy (storage is idempotent).
        done = await asyncio.gather(*(self._valuer.value(chunk) for chunk in chunks))
        rows = [row for chunk_rows in done for row in chunk_rows]
        await self._sink.write(
            outputs=_made_records(rows, items), failed=failed, offsets=commit_offsets(records)
        )
        if rows:
            self._metrics.observe(
                topic=LISTINGS_VALIDATED.name, rows=rows, seconds=time.perf_counter() - started
            )
        return len(rows)
