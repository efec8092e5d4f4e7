"""Consumer logic: plain async functions taking their dependencies (tests pass fakes).

Each returns quickly: listings and sales are upserted, requests recorded; training itself runs
in the background runner (:mod:`valora_trainer.entrypoints.runner`), so the consumer keeps
polling (Kafka's ``max.poll.interval.ms``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_contracts import SaleObserved, TrainingRequested, ValidatedListing
from valora_db import session_scope
from valora_messaging import FailedRecord, PermanentError, decode_event

from valora_trainer.adapters.request_queue import enqueue_request, has_open_request
from valora_trainer.adapters.training_store import (
    add_new_labels,
    count_labelled,
    listing_rows,
    sale_rows,
    upsert_listings,
    upsert_sales,
)

__all__ = [
    "BootstrapRequest",
    "Decoded",
    "IngestResult",
    "decode_records",
    "handle_listings",
    "handle_sales",
    "handle_training_request",
    "request_bootstrap_training",
]

logger = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseModel)
Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Decoded(Generic[E]):
    events: list[E] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)


def decode_records(records: Iterable[Any], event_type: type[E]) -> Decoded[E]:
    """Decode consumed records (aiokafka ``ConsumerRecord``-like); undecodable ones fail."""
    out: Decoded[E] = Decoded()
    for r in records:
        value = r.value if r.value is not None else b""
        try:
            out.events.append(decode_event(value, event_type))
        except PermanentError as exc:
            out.failed.append(
                FailedRecord(value, r.key or None, r.topic, r.partition, r.offset, exc)
            )
    return out


@dataclass(frozen=True)
class IngestResult:
    stored: int
    new_labels: int
    requested: TrainingRequested | None


async def _maybe_request(
    session: AsyncSession, *, model_name: str, new_labels: int, every: int
) -> TrainingRequested | None:
    if not await add_new_labels(session, model_name=model_name, count=new_labels, every=every):
        return None
    event = TrainingRequested(
        model_name=model_name, reason="new_labels", requested_by="trainer:new-labels"
    )
    await enqueue_request(session, event)
    logger.info(
        "training requested by new labels",
        extra={"model_name": model_name, "request_id": event.request_id, "every": every},
    )
    return event


async def handle_listings(
    *,
    events: Sequence[ValidatedListing],
    sessions: Sessions,
    model_name: str,
    sources: Sequence[str],
    new_labels_every: int,
    wake: Callable[[], None] = lambda: None,
    on_labels: Callable[[int], None] = lambda _: None,
) -> IngestResult:
    """Upsert labelled listings; count new labels; request training every N of them;
    ``on_labels`` hears how many listings were new (the first-training check)."""
    rows = listing_rows(events, sources=sources)
    if not rows:
        return IngestResult(0, 0, None)
    async with session_scope(sessions) as session:
        inserted = await upsert_listings(session, rows)
        request = await _maybe_request(
            session, model_name=model_name, new_labels=inserted, every=new_labels_every
        )
    on_labels(inserted)
    if request is not None:
        wake()
    return IngestResult(len(rows), inserted, request)


async def handle_sales(
    *,
    events: Sequence[SaleObserved],
    sessions: Sessions,
    model_name: str,
    new_labels_every: int,
    wake: Callable[[], None] = lambda: None,
) -> IngestResult:
    """Record realised prices: they replace the listing's price as the label."""
    rows = sale_rows(events)
    if not rows:
        return IngestResult(0, 0, None)
    async with session_scope(sessions) as session:
        applied = await upsert_sales(session, rows)
        request = await _maybe_request(
            session, model_name=model_name, new_labels=applied, every=new_labels_every
        )
    if request is not None:
        wake()
    return IngestResult(len(rows), applied, request)


async def handle_training_request(
    *,
    event: TrainingRequested,
    sessions: Sessions,
    model_names: Sequence[str],
    wake: Callable[[], None] = lambda: None,
) -> bool:
    """Record the request durably (the runner picks it up). Other models' requests are
    ignored. Returns True when it was recorded now (False: not ours, or a redelivery)."""
    if event.model_name not in model_names:
        logger.debug("ignoring request for another model", extra={"model": event.model_name})
        return False
    async with session_scope(sessions) as session:
        new = await enqueue_request(session, event)
    if new:
        logger.info(
            "training request recorded",
            extra={
                "request_id": event.request_id,
                "model_name": event.model_name,
                "reason": event.reason,
                "trace_id": event.trace_id,
            },
        )
        wake()
    return new


@dataclass(frozen=True)
class BootstrapRequest:
    """A first-training request and the labelled rows the store held when it was made."""

    request: TrainingRequested
    rows: int


async def request_bootstrap_training(
    *,
    sessions: Sessions,
    model_name: str,
    sources: Sequence[str],
    has_champion: bool,
    min_rows: int,
) -> BootstrapRequest | None:
    """Without a champion and with at least ``min_rows`` labelled rows, request training
    (unless a request of the model is already open)."""
    if has_champion:
        return None
    async with session_scope(sessions) as session:
        rows = await count_labelled(session, sources=sources)
        if rows < min_rows or await has_open_request(session, model_name):
            return None
        event = TrainingRequested(
            model_name=model_name, reason="startup", requested_by="trainer:first-training"
        )
        await enqueue_request(session, event)
    logger.info(
        "first training requested (no champion yet)",
        extra={"model_name": model_name, "rows": rows, "request_id": event.request_id},
    )
    return BootstrapRequest(request=event, rows=rows)
