"""FastStream subscribers of the predictor: thin, they only convert records and call handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_VALIDATED, MODELS_PROMOTED, PREDICTIONS_REQUESTS
from valora_messaging import batch_consumer_options, consumer_options, records_decoder

from valora_predictor.handlers import PromotionHandler, RequestHandler, StreamHandler
from valora_predictor.settings import PredictorSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    broker: KafkaBroker,
    *,
    settings: PredictorSettings,
    requests: RequestHandler,
    stream: StreamHandler | None,
    promotions: PromotionHandler,
) -> None:
    """Requests one record at a time and listings in batches (commit after processing), each
    topic by several consumers of one group (see ``predictor_*_consumers``); promotions per
    instance.

    A request record is already a batch (the gateway's micro-batch), and a one-record consumer
    waits on the fetch itself: FastStream's batch consumer sleeps ``batch_timeout_ms`` after
    every empty poll, and a request arriving then waits for the sleep to end.
    """
    for number in range(settings.predictor_request_consumers):
        _subscribe(
            broker,
            topic=PREDICTIONS_REQUESTS.name,
            handle=requests.handle_batch,
            number=number,
            **consumer_options(settings=settings, group_id=settings.predictor_group_id),
        )
    if stream is not None:
        for number in range(settings.predictor_stream_consumers):
            _subscribe(
                broker,
                topic=LISTINGS_VALIDATED.name,
                handle=stream.handle_batch,
                number=number,
                isolation_level="read_committed",
                **batch_consumer_options(
                    settings=settings, group_id=settings.predictor_stream_group_id
                ),
            )

    # No consumer group: every predictor instance sees every promotion (and, starting at the
    # latest offset, only new ones: at start the champion alias itself is read).
    @broker.subscriber(
        MODELS_PROMOTED.name,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
        decoder=records_decoder,
    )
    async def on_model_promoted(records: Any) -> None:
        for record in records:
            await promotions.handle(record.value)


def _subscribe(
    broker: KafkaBroker,
    *,
    topic: str,
    handle: Callable[[Any], Awaitable[object]],
    number: int,
    **options: Any,
) -> None:
    """Consumer ``number`` on ``topic`` (``options``: its group and batching), handing each
    record list to ``handle``."""

    @broker.subscriber(  # type: ignore[untyped-decorator]
        topic, title=f"{topic}:consumer-{number}", **options
    )
    async def on_records(records: Any) -> None:
        await handle(records)
