"""The composition root of the predictor: settings, logging, broker, store, MLflow, app."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import (
    LISTINGS_VALIDATED,
    MODELS_PROMOTED,
    PREDICTIONS_MADE,
    PREDICTIONS_REQUESTS,
    dlq_for,
)
from valora_messaging import DeferredCommits, ProducerLanes, create_broker, ensure_topics
from valora_ml.tracking import use_tracking_server
from valora_observability import (
    ServiceMetrics,
    configure_logging,
    freeze_heap,
    metrics_app,
    service_routes,
)

from valora_predictor.entrypoints import register_subscribers
from valora_predictor.handlers import PromotionHandler, RequestHandler, StreamHandler
from valora_predictor.holder import ModelHolder
from valora_predictor.model import MlflowModelLoader, ModelHandle, ModelLoader
from valora_predictor.output import BrokerOutput, PredictorMetrics
from valora_predictor.settings import PredictorSettings
from valora_predictor.store import SqlPredictionStore
from valora_predictor.valuation import Valuer

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def build_app(
    settings: PredictorSettings | None = None,
    *,
    configure_logs: bool = True,
    loader: ModelLoader | None = None,
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    settings = settings or PredictorSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    use_tracking_server(settings.mlflow_url_str)
    metrics = ServiceMetrics(settings.service_name)
    predictor_metrics = PredictorMetrics(metrics=metrics)
    interval_ms = settings.predictor_commit_interval_ms
    commits = DeferredCommits(interval_s=interval_ms / 1000) if interval_ms else None
    broker = create_broker(
        settings=settings,
        client_id="predictor",
        middlewares=[commits.middleware] if commits else [],
    )
    store = SqlPredictionStore(
        database_url=settings.database_url_str,
        pool_size=settings.predictor_db_pool_size,
        application_name=f"valora-predictor-{settings.instance_id}",
    )
    loader = loader or MlflowModelLoader(tracking_uri=settings.mlflow_url_str)

    def on_swap(handle: ModelHandle) -> None:
        freeze_heap(reason=f"model {handle.ref.version} loaded")  # the model is long-lived
        predictor_metrics.model_version.clear()
        predictor_metrics.model_version.labels(
            settings.service_name, handle.ref.name, handle.ref.version
        ).set(1)

    holder = ModelHolder(loader=loader, model_name=settings.model_name, on_swap=on_swap)
    valuer = Valuer(holder=holder, store=store)
    lanes = ProducerLanes.from_settings(
        settings=settings, client_id="predictor", size=settings.kafka_producer_lanes
    )
    output = BrokerOutput(broker=broker, lanes=lanes, service=settings.service_name)
    requests = RequestHandler(valuer=valuer, output=output, metrics=predictor_metrics)
    stream = (
        StreamHandler(
            valuer=valuer,
            output=output,
            metrics=predictor_metrics,
            no_champion_retry_s=settings.predictor_no_champion_retry_s,
            chunk_rows=settings.predictor_stream_chunk_rows,
        )
        if settings.predictor_stream_enabled
        else None
    )
    register_subscribers(
        broker,
        settings=settings,
        requests=requests,
        stream=stream,
        promotions=PromotionHandler(holder=holder),
    )
    background: list[asyncio.Task[None]] = []

    async def on_startup() -> None:
        logger.info(
            "predictor starting",
            extra={"instance": settings.instance_id, "model_name": settings.model_name},
        )
        await ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[
                PREDICTIONS_REQUESTS,
                PREDICTIONS_MADE,
                LISTINGS_VALIDATED,
                MODELS_PROMOTED,
                dlq_for(PREDICTIONS_REQUESTS),
                dlq_for(LISTINGS_VALIDATED),
            ],
        )
        await lanes.start()
        await store.start()
        try:
            await holder.refresh()
        except Exception as exc:  # MLflow down or no model: keep polling, reply with errors
            logger.warning("no champion at start", extra={"error": str(exc)[:500]})
        if holder.current is None:
            logger.warning("no champion yet", extra={"model_name": settings.model_name})

    async def after_startup() -> None:
        if commits is not None:
            await commits.start()
        freeze_heap(reason="predictor started")
        background.append(
            asyncio.create_task(
                holder.poll_forever(
                    interval_s=settings.predictor_champion_poll_s,
                    idle_interval_s=settings.predictor_no_champion_poll_s,
                )
            )
        )

    async def on_shutdown() -> None:
        if commits is not None:  # before the consumers stop: flush, then commit synchronously
            await commits.close()
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def after_shutdown() -> None:  # the subscribers have finished their in-flight work
        await lanes.stop()
        await store.close()

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def champion_ready() -> bool:
        return holder.current is not None

    return AsgiFastStream(
        broker,
        asgi_routes=service_routes(
            metrics_app=metrics_app(metrics),
            ready={"kafka": broker_ready, "champion": champion_ready},
        ),
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
