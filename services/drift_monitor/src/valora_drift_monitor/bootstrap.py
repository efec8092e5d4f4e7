"""The composition root of the drift monitor: settings, logging, stores, MLflow, broker, app.

Wiring only: every object on the data path is a named class in ``domain/``, ``adapters/`` or
``entrypoints/``; this module constructs them and hands them over.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from valora_contracts import (
    DRIFT_ALERTS,
    LISTINGS_VALIDATED,
    MODELS_CHALLENGERS,
    MODELS_PROMOTED,
    MODELS_VERDICT,
    PREDICTIONS_MADE,
    PREDICTIONS_SHADOW,
    SALES_OBSERVED,
    TRAINING_REQUESTS,
    ShadowPrediction,
    TopicSpec,
    dlq_for,
)
from valora_db import DatabaseReady, create_engine, create_session_factory, db_error_class
from valora_messaging import ConsumerRuntime, consumer_app
from valora_ml.tracking import use_tracking_server
from valora_observability import configure_logging
from valora_observability.lifecycle import fatal

from valora_drift_monitor.adapters.alerts_store import PgAlertStore
from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.outcomes_store import PgOutcomeStore
from valora_drift_monitor.adapters.outgoing import BrokerPublisher
from valora_drift_monitor.adapters.reference_loader import MlflowReferenceSource, References
from valora_drift_monitor.adapters.shadow_metrics import ShadowMetrics
from valora_drift_monitor.adapters.shadow_store import PgShadowStore
from valora_drift_monitor.domain.windows import StreamWindows
from valora_drift_monitor.entrypoints.batch_output import BatchOutput
from valora_drift_monitor.entrypoints.decoding import (
    parse_listing,
    parse_prediction,
    parse_sale,
    parse_shadow,
)
from valora_drift_monitor.entrypoints.handlers import (
    ListingsStep,
    PredictionsStep,
    PromotionsHandler,
    SalesStep,
    TopicHandler,
)
from valora_drift_monitor.entrypoints.judging import (
    DataDriftJudge,
    PerformanceJudge,
    PredictionDriftJudge,
)
from valora_drift_monitor.entrypoints.shadow import ChallengersHandler, ShadowJudge, ShadowStep
from valora_drift_monitor.entrypoints.subscribers import register_subscribers
from valora_drift_monitor.entrypoints.upkeep import Upkeep
from valora_drift_monitor.settings import DriftSettings

__all__ = ["build_app"]

_INPUTS = (
    LISTINGS_VALIDATED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    PREDICTIONS_SHADOW,
    MODELS_CHALLENGERS,
)
_OUTPUTS = (DRIFT_ALERTS, TRAINING_REQUESTS, MODELS_VERDICT)
_TOPICS = [*_INPUTS, MODELS_PROMOTED, *_OUTPUTS, *map(dlq_for, _INPUTS)]


@dataclass(frozen=True)
class _Parts:
    """What the three input handlers share."""

    settings: DriftSettings
    runtime: ConsumerRuntime
    alerts: PgAlertStore
    outcomes: PgOutcomeStore
    references: References
    metrics: DriftMetrics
    shadow: PgShadowStore
    judge: ShadowJudge
    shadow_metrics: ShadowMetrics

    def output(self, source: TopicSpec) -> BatchOutput:
        s = self.settings
        return BatchOutput(
            store=self.alerts,
            sink=self.runtime.broker_sink(source),
            metrics=self.metrics,
            policy=s.alert_policy(),
            retrain=s.retrain_policy(),
        )


def _shadow_handler(p: _Parts, performance: PerformanceJudge) -> TopicHandler[ShadowPrediction]:
    """``predictions.shadow.v1``: pairs stored, then the challengers judged."""
    step = ShadowStep(
        model_name=p.settings.model_name, store=p.shadow, judge=p.judge, metrics=p.shadow_metrics
    )
    return TopicHandler(
        topic=PREDICTIONS_SHADOW,
        parse=parse_shadow,
        event_name="ShadowPrediction",
        step=step,
        performance=performance,
        output=p.output(PREDICTIONS_SHADOW),
    )


def _register_handlers(p: _Parts) -> None:
    s, metrics, references = p.settings, p.metrics, p.references
    thresholds = s.thresholds()
    performance = PerformanceJudge(
        references=references,
        outcomes=p.outcomes,
        metrics=metrics,
        thresholds=thresholds,
        size=s.drift_performance_window_size,
        span_s=s.drift_performance_window_seconds,
        segments=s.drift_performance_segments,
    )
    listings = ListingsStep(
        model_name=s.model_name,
        windows=StreamWindows(s.data_window_policy(), remember=s.drift_dedupe_ids),
        judge=DataDriftJudge(
            references=references,
            alerts=p.alerts,
            metrics=metrics,
            thresholds=thresholds,
            correction=s.drift_correction,
            replica=s.replica_id,
        ),
        outcomes=p.outcomes,
        metrics=metrics,
        listing_labels=s.drift_listing_labels,
    )
    predictions = PredictionsStep(
        model_name=s.model_name,
        windows=StreamWindows(s.prediction_window_policy(), remember=s.drift_dedupe_ids),
        judge=PredictionDriftJudge(
            references=references,
            alerts=p.alerts,
            metrics=metrics,
            thresholds=thresholds,
            replica=s.replica_id,
            min_priced=s.drift_estimate_min_priced,
        ),
        outcomes=p.outcomes,
        metrics=metrics,
    )
    sales = SalesStep(
        model_name=s.model_name,
        outcomes=p.outcomes,
        metrics=metrics,
        after_sales=p.judge.evaluate,
    )
    register_subscribers(
        p.runtime,
        settings=s,
        listings=TopicHandler(
            topic=LISTINGS_VALIDATED,
            parse=parse_listing,
            event_name="ValidatedListing",
            step=listings,
            performance=performance,
            output=p.output(LISTINGS_VALIDATED),
        ),
        predictions=TopicHandler(
            topic=PREDICTIONS_MADE,
            parse=parse_prediction,
            event_name="PredictionMade",
            step=predictions,
            performance=performance,
            output=p.output(PREDICTIONS_MADE),
        ),
        sales=TopicHandler(
            topic=SALES_OBSERVED,
            parse=parse_sale,
            event_name="SaleObserved",
            step=sales,
            performance=performance,
            output=p.output(SALES_OBSERVED),
        ),
        promotions=PromotionsHandler(references=references, metrics=metrics),
        shadow=_shadow_handler(p, performance),
        challengers=ChallengersHandler(
            model_name=s.model_name, store=p.shadow, count=p.metrics.count
        ),
    )


def build_app(
    settings: DriftSettings | None = None, *, configure_logs: bool = True
) -> AsgiFastStream:
    """Wire the service; nothing connects until the returned app starts."""
    s = settings or DriftSettings()
    if configure_logs:
        configure_logging(service=s.service_name, level=s.log_level, json=s.log_json)
    use_tracking_server(s.mlflow_url_str, username=s.mlflow_username, password=s.mlflow_password)
    runtime = ConsumerRuntime.create(
        settings=s, client_id="drift-monitor", on_fatal=fatal, classifiers=[db_error_class]
    )
    engine = create_engine(
        s.database_url_str,
        pool_size=s.drift_db_pool_size,
        command_timeout_s=s.database_command_timeout_s,
        acquire_timeout_s=s.database_acquire_timeout_s,
    )
    factory = create_session_factory(engine)
    alerts, shadow = PgAlertStore(factory), PgShadowStore(factory)
    shadow_metrics = ShadowMetrics(metrics=runtime.metrics, model_name=s.model_name)
    publisher = BrokerPublisher(runtime.broker)
    parts = _Parts(
        settings=s,
        runtime=runtime,
        alerts=alerts,
        outcomes=PgOutcomeStore(factory),
        references=References(
            source=MlflowReferenceSource(s.mlflow_url_str), model_name=s.model_name
        ),
        metrics=DriftMetrics(
            metrics=runtime.metrics,
            model_name=s.model_name,
            estimated_error_factor=s.drift_estimated_error_factor,
        ),
        shadow=shadow,
        judge=ShadowJudge(
            model_name=s.model_name,
            store=shadow,
            alerts=alerts,
            publisher=publisher,
            metrics=shadow_metrics,
            policy=s.shadow_policy(),
        ),
        shadow_metrics=shadow_metrics,
    )
    _register_handlers(parts)
    upkeep = Upkeep(
        references=parts.references,
        alerts=parts.alerts,
        outcomes=parts.outcomes,
        publisher=publisher,
        metrics=parts.metrics,
        settings=s,
        shadow=parts.judge,
    )

    async def shutdown() -> None:
        await upkeep.stop()
        await engine.dispose()

    return consumer_app(
        runtime,
        topics=_TOPICS,
        ready={"database": DatabaseReady(engine)},
        on_startup=[upkeep.start],  # the champion is loaded before the first record is consumed
        after_shutdown=[shutdown],
    )
