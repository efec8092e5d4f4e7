"""FastStream subscribers of the predictor: thin, they only convert records and call handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_VALIDATED, MODELS_PROMOTED, PREDICTIONS_REQUESTS
from valora_messaging import batch_consumer_options, records_decoder

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
    """Requests and listings in batches (commit after processing), each topic by several
    consumers of one group (see ``predictor_*_consumers``); promotions per instance."""
    for number in range(settings.predictor_request_consumers):
        _subscribe_batches(
            broker,
            settings=settings,
            topic=PREDICTIONS_REQUESTS.name,
            group_id=settings.predictor_group_id,
            handle=requests.handle_batch,
            number=number,
        )
    if stream is not None:
        for number in range(settings.predictor_stream_consumers):
            _subscribe_batches(
                broker,
                settings=settings,
                topic=LISTINGS_VALIDATED.name,
                group_id=settings.predictor_stream_group_id,
                handle=stream.handle_batch,
                number=number,
                isolation_level="read_committed",
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


def _subscribe_batches(
    broker: KafkaBroker,
    *,
    settings: PredictorSettings,
    topic: str,
    group_id: str,
    handle: Callable[[Any], Awaitable[object]],
    number: int,
    **options: Any,
) -> None:
    """Consumer ``number`` of ``group_id`` on ``topic``, handing each batch to ``handle``."""

    @broker.subscriber(  # type: ignore[untyped-decorator]
        topic,
        title=f"{topic}:consumer-{number}",
        **options,
        **batch_consumer_options(settings=settings, group_id=group_id),
    )
    async def on_batch(records: Any) -> None:
        await handle(records)
