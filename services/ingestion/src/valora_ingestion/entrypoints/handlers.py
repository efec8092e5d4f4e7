"""The ingestion handler: raw records in, ingested listings and dead letters out.

A plain class taking its dependencies as keyword arguments; no Kafka client in here. A record
that cannot be normalised (:class:`~valora_messaging.PermanentError`) is dead-lettered with the
batch's outputs; any other error is raised to the consumers' error policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from valora_contracts import LISTINGS_INGESTED, LISTINGS_RAW, utcnow
from valora_messaging import (
    BatchSink,
    FailedRecord,
    InRecord,
    OutgoingRecord,
    PermanentError,
    commit_offsets,
    to_failed,
)
from valora_observability import ServiceMetrics

from valora_ingestion.domain.dedupe import RecentKeys
from valora_ingestion.domain.normalise import decode_raw, normalise

__all__ = ["BatchOutcome", "IngestionHandler"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOutcome:
    ingested: int
    duplicates: int
    dead_lettered: int


class IngestionHandler:
    """Normalise a batch, drop exact repeats, write outputs + dead letters through the sink."""

    def __init__(
        self,
        *,
        sink: BatchSink,
        recent: RecentKeys,
        metrics: ServiceMetrics,
        default_source: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sink = sink
        self._recent = recent
        self._metrics = metrics
        self._default_source = default_source
        self._clock = clock
        self._topic = LISTINGS_RAW.name
        self._out = LISTINGS_INGESTED.name
        self._sink_seconds = metrics.histogram(
            "valora_ingestion_sink_seconds",
            "Time to make a batch's outputs durable (transaction commit or publish confirms).",
            [],
        ).labels(metrics.service)

    async def handle_batch(self, records: Sequence[InRecord]) -> BatchOutcome:
        started = time.perf_counter()
        now = self._clock()
        outputs: list[OutgoingRecord] = []
        failed: list[FailedRecord] = []
        new_keys: list[bytes] = []
        seen_in_batch: set[bytes] = set()
        duplicates = 0
        for record in records:
            try:
                normalised = normalise(
                    decode_raw(record.value),
                    now=now,
                    default_source=self._default_source,
                    header_source=record.header("source"),
                    header_trace_id=record.header("trace_id"),
                )
            except PermanentError as exc:  # this record's problem: dead-lettered with its reason
                failed.append(to_failed(record, exc))
                continue
            key = normalised.dedupe_key
            if key in seen_in_batch or key in self._recent:
                duplicates += 1
                continue
            seen_in_batch.add(key)
            new_keys.append(key)
            listing = normalised.listing
            outputs.append(
                OutgoingRecord(
                    topic=self._out,
                    value=listing.model_dump_json().encode(),
                    key=listing.listing_id.encode(),
                )
            )

        writing = time.perf_counter()
        await self._sink.write(outputs=outputs, failed=failed, offsets=commit_offsets(records))
        self._sink_seconds.observe(time.perf_counter() - writing)
        # Only once the outputs are durable: a failed write must not mark records as seen.
        self._recent.add_all(new_keys)

        m = self._metrics
        if outputs:
            m.messages.labels(m.service, self._topic, "ingested").inc(len(outputs))
        if duplicates:
            m.messages.labels(m.service, self._topic, "duplicate").inc(duplicates)
        if failed:
            m.messages.labels(m.service, self._topic, "dead_lettered").inc(len(failed))
        m.handler_seconds.labels(m.service, self._topic).observe(time.perf_counter() - started)
        return BatchOutcome(ingested=len(outputs), duplicates=duplicates, dead_lettered=len(failed))
