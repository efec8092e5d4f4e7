"""The composition root of the predictor: settings, logging, broker, store, MLflow, app."""

from __future__ import annotations

import functools
import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import (
    DRIFT_ALERTS,
    LISTINGS_VALIDATED,
    MODELS_CHALLENGERS,
    MODELS_PROMOTED,
    PREDICTIONS_MADE,
    PREDICTIONS_REQUESTS,
    PREDICTIONS_SHADOW,
    TopicSpec,
    dlq_for,
)
from valora_messaging import (
    ConsumerRuntime,
    DeferredCommits,
    KnownTopics,
    ProducerLanes,
    TopicLister,
    consumer_app,
)
from valora_ml.pricemodel import CHALLENGER_ALIAS, CHAMPION_ALIAS
from valora_ml.tracking import use_tracking_server
from valora_observability import configure_logging
from valora_observability.lifecycle import fatal

from valora_predictor.adapters.mlflow_models import MlflowModelLoader
from valora_predictor.adapters.output import (
    BrokerOutput,
    IntegrityAlerts,
    PredictorMetrics,
    ServedVersion,
)
from valora_predictor.adapters.store import SqlPredictionStore
from valora_predictor.domain.holder import ChampionPolling, ModelHolder
from valora_predictor.domain.model import ModelLoader
from valora_predictor.domain.valuation import Valuer
from valora_predictor.entrypoints.handlers import RequestHandler, StreamHandler
from valora_predictor.entrypoints.lifecycle import PredictorLifecycle
from valora_predictor.entrypoints.models import ChallengerHandler, PromotionHandler
from valora_predictor.entrypoints.subscribers import register_subscribers
from valora_predictor.settings import PredictorSettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def _store(settings: PredictorSettings) -> SqlPredictionStore:
    return SqlPredictionStore(
        database_url=settings.database_url_str,
        pool_size=settings.predictor_db_pool_size,
        application_name=f"valora-predictor-{settings.instance_id}",
        command_timeout_s=settings.database_command_timeout_s,
    )


def _topics() -> list[TopicSpec]:
    inputs = (PREDICTIONS_REQUESTS, LISTINGS_VALIDATED, MODELS_PROMOTED, MODELS_CHALLENGERS)
    outputs = (PREDICTIONS_MADE, PREDICTIONS_SHADOW, DRIFT_ALERTS)
    return [*inputs, *outputs, *(dlq_for(t) for t in inputs)]


def _holder(
    settings: PredictorSettings,
    loader: ModelLoader,
    runtime: ConsumerRuntime,
    metrics: PredictorMetrics,
    alias: str = CHAMPION_ALIAS,
) -> ModelHolder:
    """A served model (the champion, or the challenger valued in the shadow): loaded from
    MLflow (verified outside local), swaps reported."""
    return ModelHolder(
        loader=loader,
        model_name=settings.model_name,
        alias=alias,
        on_swap=ServedVersion(
            metrics=metrics, service=settings.service_name, challenger=alias != CHAMPION_ALIAS
        ),
        on_refused=IntegrityAlerts(
            broker=runtime.broker, metrics=metrics, service=settings.service_name
        ),
    )


def _lifecycle(
    settings: PredictorSettings,
    *,
    holder: ModelHolder,
    shadow: ModelHolder | None,
    store: SqlPredictionStore,
    lanes: ProducerLanes,
    admin: TopicLister,
    commits: DeferredCommits | None,
) -> PredictorLifecycle:
    """What starts and stops around the consumers: clients, the champion's and the
    challenger's alias polls, deferred commits."""
    return PredictorLifecycle(
        holder=holder,
        champion=ChampionPolling(
            holder=holder,
            interval_s=settings.predictor_champion_poll_s,
            idle_interval_s=settings.predictor_no_champion_poll_s,
        ),
        store=store,
        lanes=lanes,
        topics=admin,
        commits=commits,
        challenger=ChampionPolling(
            holder=shadow,
            interval_s=settings.predictor_champion_poll_s,
            idle_interval_s=settings.predictor_champion_poll_s,
        )
        if shadow is not None
        else None,
    )


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
    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    interval_ms = settings.predictor_commit_interval_ms
    commits = DeferredCommits(interval_s=interval_ms / 1000) if interval_ms else None
    runtime = ConsumerRuntime.create(
        settings=settings,
        client_id="predictor",
        on_fatal=fatal,
        middlewares=[commits.middleware] if commits else [],
    )
    predictor_metrics = PredictorMetrics(metrics=runtime.metrics)
    store = _store(settings)
    loader = loader or MlflowModelLoader(
        tracking_uri=settings.mlflow_url_str, require_digest=not settings.is_local
    )
    holder = _holder(settings, loader, runtime, predictor_metrics)
    shadow = (
        _holder(settings, loader, runtime, predictor_metrics, alias=CHALLENGER_ALIAS)
        if settings.predictor_shadow_enabled
        else None
    )
    valuer = Valuer(holder=holder, store=store, shadow=shadow)
    lanes = ProducerLanes.from_settings(
        settings=settings, client_id="predictor", size=settings.kafka_producer_lanes
    )
    admin = TopicLister(settings=settings)
    output = BrokerOutput(
        broker=runtime.broker,
        lanes=lanes,
        topics=KnownTopics.from_lister(admin),
        service=settings.service_name,
        metrics=runtime.consumers,
    )
    stream_sinks = register_subscribers(
        runtime,
        settings=settings,
        requests=RequestHandler(valuer=valuer, output=output, metrics=predictor_metrics),
        stream=functools.partial(
            StreamHandler,
            valuer=valuer,
            metrics=predictor_metrics,
            chunk_rows=settings.predictor_stream_chunk_rows,
        )
        if settings.predictor_stream_enabled
        else None,
        promotions=PromotionHandler(holder=holder),
        challengers=ChallengerHandler(holder=shadow, metrics=runtime.metrics)
        if shadow is not None
        else None,
    )
    life = _lifecycle(settings, holder=holder, shadow=shadow, store=store, lanes=lanes, admin=admin,
                      commits=commits)  # fmt: skip
    return consumer_app(
        runtime,
        topics=_topics(),
        sinks=stream_sinks,
        ready={"champion": life.champion_ready},
        on_startup=[life.start_clients],
        after_startup=[life.start_background],
        on_shutdown=[life.stop_background],
        after_shutdown=[life.stop_clients],
    )
