"""The composition root of the drift monitor: settings, logging, stores, MLflow, broker, app."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faststream.asgi import AsgiFastStream
from sqlalchemy import text
from valora_contracts import (
    DRIFT_ALERTS,
    LISTINGS_VALIDATED,
    MODELS_PROMOTED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    TRAINING_REQUESTS,
    TopicSpec,
    dlq_for,
)
from valora_db import create_engine, create_session_factory
from valora_messaging import BrokerSink, OutgoingRecord, create_broker, ensure_topics, publish_many
from valora_observability import (
    ServiceMetrics,
    configure_logging,
    freeze_heap_hook,
    metrics_app,
    service_routes,
)

from valora_drift_monitor.alerting import AlertPolicy
from valora_drift_monitor.engine import AlertEngine
from valora_drift_monitor.entrypoints import register_subscribers
from valora_drift_monitor.handlers import (
    ListingsHandler,
    Output,
    PredictionsHandler,
    PromotionsHandler,
    SalesHandler,
)
from valora_drift_monitor.metrics import DriftMetrics
from valora_drift_monitor.monitors import (
    DataDriftMonitor,
    PerformanceMonitor,
    PredictionDriftMonitor,
)
from valora_drift_monitor.planning import RetrainPolicy
from valora_drift_monitor.reference import MlflowReferenceSource, References
from valora_drift_monitor.settings import DriftSettings
from valora_drift_monitor.store_alerts import PgAlertStore
from valora_drift_monitor.store_outcomes import PgOutcomeStore
from valora_drift_monitor.upkeep import Upkeep

__all__ = ["build_app"]

logger = logging.getLogger(__name__)
_INPUTS = (LISTINGS_VALIDATED, PREDICTIONS_MADE, SALES_OBSERVED)


def build_app(
    settings: DriftSettings | None = None, *, configure_logs: bool = True
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    settings = settings or DriftSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    metrics = ServiceMetrics(settings.service_name)
    drift_metrics = DriftMetrics(metrics=metrics, model_name=settings.model_name)
    broker = create_broker(settings=settings, client_id="drift-monitor")
    engine = create_engine(settings.database_url_str, pool_size=settings.drift_db_pool_size)
    factory = create_session_factory(engine)
    alerts = PgAlertStore(factory)
    outcomes = PgOutcomeStore(factory)
    references = References(
        source=MlflowReferenceSource(settings.mlflow_url_str), model_name=settings.model_name
    )
    alert_engine = AlertEngine(
        store=alerts,
        metrics=drift_metrics,
        policy=AlertPolicy(
            cooldown_s=settings.drift_cooldown_s, resolve_after=settings.drift_resolve_after
        ),
        retrain=RetrainPolicy(
            enabled=settings.drift_auto_retrain,
            cooldown_s=settings.drift_retrain_cooldown_s,
            requested_by=f"drift-monitor/{settings.replica_id}",
        ),
    )

    def output(source: TopicSpec) -> Output:
        sink = BrokerSink(broker=broker, source=source, service=settings.service_name)
        return Output(engine=alert_engine, sink=sink, metrics=drift_metrics)

    performance = PerformanceMonitor(
        references=references, outcomes=outcomes, metrics=drift_metrics, settings=settings
    )
    register_subscribers(
        broker,
        settings=settings,
        listings=ListingsHandler(
            model_name=settings.model_name,
            data=DataDriftMonitor(
                references=references, alerts=alerts, metrics=drift_metrics, settings=settings
            ),
            performance=performance,
            outcomes=outcomes,
            output=output(LISTINGS_VALIDATED),
            listing_labels=settings.drift_listing_labels,
        ),
        predictions=PredictionsHandler(
            model_name=settings.model_name,
            predictions=PredictionDriftMonitor(
                references=references, alerts=alerts, metrics=drift_metrics, settings=settings
            ),
            performance=performance,
            outcomes=outcomes,
            output=output(PREDICTIONS_MADE),
        ),
        sales=SalesHandler(
            model_name=settings.model_name,
            performance=performance,
            outcomes=outcomes,
            output=output(SALES_OBSERVED),
        ),
        promotions=PromotionsHandler(references=references, metrics=drift_metrics),
    )

    async def publish(records: Sequence[OutgoingRecord]) -> int:
        return await publish_many(broker=broker, records=records)

    upkeep = Upkeep(
        references=references,
        alerts=alerts,
        outcomes=outcomes,
        publish=publish,
        metrics=drift_metrics,
        settings=settings,
    )

    async def prepare() -> None:
        await ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[
                *_INPUTS,
                MODELS_PROMOTED,
                DRIFT_ALERTS,
                TRAINING_REQUESTS,
                *(dlq_for(t) for t in _INPUTS),
            ],
        )
        await upkeep.start()  # the champion is loaded before the first record is consumed

    async def shutdown() -> None:
        await upkeep.stop()
        await engine.dispose()

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def database_ready() -> bool:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    return AsgiFastStream(
        broker,
        asgi_routes=service_routes(
            metrics_app=metrics_app(metrics),
            ready={"kafka": broker_ready, "database": database_ready},
        ),
        on_startup=[prepare],
        after_startup=[freeze_heap_hook(reason="drift monitor started")],
        after_shutdown=[shutdown],
    )
