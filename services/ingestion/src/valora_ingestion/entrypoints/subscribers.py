"""The ingestion service's one subscriber: raw listings, under the consumers' error policy."""

from __future__ import annotations

from valora_contracts import LISTINGS_RAW
from valora_messaging import ConsumerRuntime, PartitionTransactions, Subscription
from valora_messaging.sink import BatchSink

from valora_ingestion.entrypoints.handlers import IngestionHandler
from valora_ingestion.settings import IngestionSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    runtime: ConsumerRuntime,
    *,
    settings: IngestionSettings,
    handler: IngestionHandler,
    sink: BatchSink,
) -> None:
    """Batches of raw listings; with a transactional sink each partition commits on its own."""
    runtime.subscribe(
        Subscription(
            topic=LISTINGS_RAW,
            handle=handler.handle_batch,
            sink=sink,
            group_id=settings.ingestion_group_id,
            transactions=sink if isinstance(sink, PartitionTransactions) else None,
        )
    )
