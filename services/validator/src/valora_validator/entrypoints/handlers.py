"""The validator handler: ingested listings in, validated or rejected listings out.

Plain classes taking their dependencies as keyword arguments; no Kafka client in here. A record
that is not an ``IngestedListing`` is dead-lettered with the batch's outputs; any other error
is raised to the consumers' error policy.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from prometheus_client import Counter
from valora_contracts import (
    LISTINGS_INGESTED,
    LISTINGS_REJECTED,
    LISTINGS_VALIDATED,
    IngestedListing,
    utcnow,
)
from valora_contracts.data_contract import DataContract, listing_values
from valora_messaging import (
    BatchSink,
    FailedRecord,
    InRecord,
    OutgoingRecord,
    commit_offsets,
    to_failed,
)
from valora_observability import ServiceMetrics

from valora_validator.errors import InvalidIngestedListingError

__all__ = ["BatchOutcome", "ValidatorHandler", "ValidatorMetrics"]


class ValidatorMetrics:
    """Prometheus counters per rule and per outcome, on the service's registry."""

    def __init__(self, *, metrics: ServiceMetrics, contract: DataContract) -> None:
        self.base = metrics
        self.rule_failures: Counter = metrics.counter(
            "valora_validator_rule_failures_total",
            "Listings failing each contract rule.",
            ["rule"],
        )
        self.outcomes: Counter = metrics.counter(
            "valora_validator_outcomes_total",
            "Listings by outcome: validated, rejected or dead_lettered.",
            ["outcome"],
        )
        self.sink_seconds = metrics.histogram(
            "valora_validator_sink_seconds",
            "Time to make a batch's outputs durable (transaction commit or publish confirms).",
            [],
        )
        service = metrics.service
        for rule in contract.active_rules:  # export zeros, so rates exist before a failure
            self.rule_failures.labels(service, rule.name)
        for outcome in ("validated", "rejected", "dead_lettered"):
            self.outcomes.labels(service, outcome)


@dataclass(frozen=True)
class BatchOutcome:
    validated: int
    rejected: int
    dead_lettered: int


def _event_id(source_event_id: str, outcome: str, version: str) -> str:
    text = f"{source_event_id}|{outcome}|{version}".encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


class ValidatorHandler:
    """Check each listing against the contract and route it to validated or rejected."""

    def __init__(
        self,
        *,
        contract: DataContract,
        sink: BatchSink,
        metrics: ValidatorMetrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._contract = contract
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._topic = LISTINGS_INGESTED.name

    async def handle_batch(self, records: Sequence[InRecord]) -> BatchOutcome:
        started = time.perf_counter()
        now = self._clock().isoformat().replace("+00:00", "Z")
        version = self._contract.version
        outputs: list[OutgoingRecord] = []
        failed: list[FailedRecord] = []
        failures_by_rule: dict[str, int] = {}
        validated = rejected = 0
        for record in records:
            try:
                listing = IngestedListing.model_validate_json(record.value)
            except ValueError as exc:  # not an IngestedListing: this record's problem
                error = InvalidIngestedListingError(f"invalid IngestedListing: {exc}")
                failed.append(to_failed(record, error))
                continue
            violations = self._contract.evaluate(listing_values(listing))
            body = listing.model_dump(mode="json")
            body["occurred_at"] = now
            body["contract_version"] = version
            if violations:
                rejected += 1
                topic = LISTINGS_REJECTED.name
                body["event_id"] = _event_id(listing.event_id, "rejected", version)
                body["violations"] = [v.model_dump(mode="json") for v in violations]
                for v in violations:
                    failures_by_rule[v.rule] = failures_by_rule.get(v.rule, 0) + 1
            else:
                validated += 1
                topic = LISTINGS_VALIDATED.name
                body["event_id"] = _event_id(listing.event_id, "validated", version)
            outputs.append(
                OutgoingRecord(
                    topic=topic, value=orjson.dumps(body), key=listing.listing_id.encode()
                )
            )

        writing = time.perf_counter()
        await self._sink.write(outputs=outputs, failed=failed, offsets=commit_offsets(records))
        self._metrics.sink_seconds.labels(self._metrics.base.service).observe(
            time.perf_counter() - writing
        )

        m = self._metrics
        service = m.base.service
        for outcome, count in (
            ("validated", validated),
            ("rejected", rejected),
            ("dead_lettered", len(failed)),
        ):
            if count:
                m.outcomes.labels(service, outcome).inc(count)
                m.base.messages.labels(service, self._topic, outcome).inc(count)
        for rule, count in failures_by_rule.items():
            m.rule_failures.labels(service, rule).inc(count)
        m.base.handler_seconds.labels(service, self._topic).observe(time.perf_counter() - started)
        return BatchOutcome(validated=validated, rejected=rejected, dead_lettered=len(failed))
