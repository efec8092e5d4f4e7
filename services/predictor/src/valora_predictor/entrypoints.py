"""FastStream subscribers of the predictor: thin, they only convert records and call handlers."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from valora_contracts import LISTINGS_VALIDATED, MODELS_PROMOTED, PREDICTIONS_REQUESTS
from valora_messaging import batch_consumer_options, records_of

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
    """Requests and listings in batches (commit after processing); promotions per instance."""

    @broker.subscriber(  # type: ignore[untyped-decorator]
        PREDICTIONS_REQUESTS.name,
        **batch_consumer_options(settings=settings, group_id=settings.predictor_group_id),
    )
    async def on_prediction_requests(msg: KafkaMessage) -> None:
        await requests.handle_batch(records_of(msg.raw_message))

    if stream is not None:

        @broker.subscriber(  # type: ignore[untyped-decorator]
            LISTINGS_VALIDATED.name,
            isolation_level="read_committed",
            **batch_consumer_options(
                settings=settings, group_id=settings.predictor_stream_group_id
            ),
        )
        async def on_validated_listings(msg: KafkaMessage) -> None:
            await stream.handle_batch(records_of(msg.raw_message))

    # No consumer group: every predictor instance sees every promotion (and, starting at the
    # latest offset, only new ones: at start the champion alias itself is read).
    @broker.subscriber(
        MODELS_PROMOTED.name,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
    )
    async def on_model_promoted(msg: KafkaMessage) -> None:
        for record in records_of(msg.raw_message):
            await promotions.handle(record.value)
