"""Kafka subscribers of the predictor, all under the consumers' error policy."""

from __future__ import annotations

from collections.abc import Callable

from valora_contracts import (
    LISTINGS_VALIDATED,
    MODELS_CHALLENGERS,
    MODELS_PROMOTED,
    PREDICTIONS_REQUESTS,
)
from valora_messaging import BatchSink, ConsumerRuntime, PartitionTransactions, Subscription

from valora_predictor.entrypoints.handlers import RequestHandler, StreamHandler
from valora_predictor.entrypoints.models import ChallengerHandler, PromotionHandler
from valora_predictor.settings import PredictorSettings

__all__ = ["register_subscribers"]


def register_subscribers(
    runtime: ConsumerRuntime,
    *,
    settings: PredictorSettings,
    requests: RequestHandler,
    stream: Callable[..., StreamHandler] | None,
    promotions: PromotionHandler,
    challengers: ChallengerHandler | None = None,
) -> list[BatchSink]:
    """Requests one record at a time and listings in batches (commit after processing), each
    topic by several consumers of one group (see ``predictor_*_consumers``); promotions are read
    by every instance.

    A request record is already a batch (the gateway's micro-batch), and a one-record consumer
    waits on the fetch itself: FastStream's batch consumer sleeps ``batch_timeout_ms`` after
    every empty poll, and a request arriving then waits for the sleep to end.
    """
    for number in range(settings.predictor_request_consumers):
        runtime.subscribe(
            Subscription(
                topic=PREDICTIONS_REQUESTS,
                handle=requests.handle_batch,
                sink=runtime.broker_sink(PREDICTIONS_REQUESTS),
                group_id=settings.predictor_group_id,
                batch=False,
                title=f"{PREDICTIONS_REQUESTS.name}:consumer-{number}",
            )
        )
    sinks: list[BatchSink] = []
    if stream is not None:
        for number in range(settings.predictor_stream_consumers):
            # each consumer its own sink: per-partition transactions follow its assignment
            sink = runtime.output_sink(
                source=LISTINGS_VALIDATED,
                group_id=settings.predictor_stream_group_id,
                exactly_once=settings.predictor_stream_exactly_once,
            )
            sinks.append(sink)
            runtime.subscribe(
                Subscription(
                    topic=LISTINGS_VALIDATED,
                    handle=stream(sink=sink).handle_batch,
                    sink=sink,
                    group_id=settings.predictor_stream_group_id,
                    transactions=sink if isinstance(sink, PartitionTransactions) else None,
                    title=f"{LISTINGS_VALIDATED.name}:consumer-{number}",
                )
            )
    # No consumer group: every predictor instance sees every promotion (and, starting at the
    # latest offset, only new ones: at start the champion alias itself is read).
    runtime.subscribe(
        Subscription(
            topic=MODELS_PROMOTED,
            handle=promotions.handle_batch,
            sink=runtime.broker_sink(MODELS_PROMOTED),
            group_id=None,
            batch=False,
        )
    )
    if challengers is not None:  # likewise every instance: each values in the shadow
        runtime.subscribe(
            Subscription(
                topic=MODELS_CHALLENGERS,
                handle=challengers.handle_batch,
                sink=runtime.broker_sink(MODELS_CHALLENGERS),
                group_id=None,
                batch=False,
            )
        )
    return sinks
