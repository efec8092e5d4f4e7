"""``POST /listings``: listings as JSON records on the ingest topic."""

from __future__ import annotations

from typing import Any

import orjson
from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_RAW
from valora_messaging import OutgoingRecord, publish_many

from valora_gateway.errors import BrokerUnavailableError, InvalidListingError

__all__ = ["ListingPublisher"]


class ListingPublisher:
    """Publishes listings as they came (ingestion judges them), keyed by ``listing_id``."""

    topic = LISTINGS_RAW.name

    def __init__(self, *, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, records: list[dict[str, Any]]) -> int:
        """Publish every record and wait until all are acknowledged; returns how many."""
        outgoing = []
        for number, r in enumerate(records):
            try:
                value = orjson.dumps(r)
                key = str(r["listing_id"]).encode() if r.get("listing_id") else None
            except (TypeError, UnicodeEncodeError) as exc:  # orjson.JSONEncodeError is a TypeError
                raise InvalidListingError(f"listing {number} cannot be encoded: {exc}") from exc
            outgoing.append(OutgoingRecord(topic=self.topic, value=value, key=key))
        try:
            return await publish_many(broker=self._broker, records=outgoing)
        except Exception as exc:
            raise BrokerUnavailableError(f"could not publish listings: {exc}") from exc
