"""The validator's one subscriber: ingested listings, under the consumers' error policy."""

from __future__ import annotations

from valora_contracts import LISTINGS_INGESTED
from valora_messaging import ConsumerRuntime, PartitionTransactions, Subscription
from valora_messaging.sink import BatchSink

from valora_validator.entrypoints.handlers import ValidatorHandler
from valora_validator.settings import ValidatorSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    runtime: ConsumerRuntime,
    *,
    settings: ValidatorSettings,
    handler: ValidatorHandler,
    sink: BatchSink,
) -> None:
    """Batches of ingested listings; with a transactional sink each partition commits alone."""
    runtime.subscribe(
        Subscription(
            topic=LISTINGS_INGESTED,
            handle=handler.handle_batch,
            sink=sink,
            group_id=settings.validator_group_id,
            transactions=sink if isinstance(sink, PartitionTransactions) else None,
        )
    )
