"""FastStream subscribers of the predictor: thin, they only convert records and call handlers."""

from __future__ import annotations

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
        _subscribe_requests(broker, settings=settings, handler=requests, number=number)
    if stream is not None:
        for number in range(settings.predictor_stream_consumers):
            _subscribe_stream(broker, settings=settings, handler=stream, number=number)

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


def _subscribe_requests(
    broker: KafkaBroker, *, settings: PredictorSettings, handler: RequestHandler, number: int
) -> None:
    @broker.subscriber(  # type: ignore[untyped-decorator]
        PREDICTIONS_REQUESTS.name,
        title=f"{PREDICTIONS_REQUESTS.name}:consumer-{number}",
        **batch_consumer_options(settings=settings, group_id=settings.predictor_group_id),
    )
    async def on_prediction_requests(records: Any) -> None:
        await handler.handle_batch(records)


def _subscribe_stream(
    broker: KafkaBroker, *, settings: PredictorSettings, handler: StreamHandler, number: int
) -> None:
    @broker.subscriber(  # type: ignore[untyped-decorator]
        LISTINGS_VALIDATED.name,
        title=f"{LISTINGS_VALIDATED.name}:consumer-{number}",
        isolation_level="read_committed",
        **batch_consumer_options(settings=settings, group_id=settings.predictor_stream_group_id),
    )
    async def on_validated_listings(records: Any) -> None:
        await handler.handle_batch(records)
