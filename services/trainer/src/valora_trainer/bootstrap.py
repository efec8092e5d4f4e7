"""The composition root: settings, logging, broker, database, MLflow, runner, ASGI app."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from valora_contracts import ALL_TOPICS
from valora_db import DatabaseReady, create_engine, create_session_factory, db_error_class
from valora_messaging import ConsumerRuntime, consumer_app
from valora_ml.tracking import use_tracking_server
from valora_observability import configure_logging
from valora_observability.lifecycle import fatal

from valora_trainer.adapters.publisher import BrokerPublisher
from valora_trainer.adapters.registry import MlflowRegistry
from valora_trainer.adapters.study_storage import StudyStorage
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.entrypoints.background import RunnerTask
from valora_trainer.entrypoints.first_training import FirstTraining
from valora_trainer.entrypoints.runner import RunOutcomes, TrainingRunner
from valora_trainer.entrypoints.subscribers import TrainerDeps, register_subscribers
from valora_trainer.settings import TrainerSettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def build_app(
    settings: TrainerSettings | None = None,
    *,
    configure_logs: bool = True,
    config: TrainingConfig | None = None,
) -> AsgiFastStream:
    """The trainer app: subscribers, background runner, ``/metrics``, ``/health/*``."""
    settings = settings or TrainerSettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    config = config or load_config(settings.training_config)
    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    runtime = ConsumerRuntime.create(
        settings=settings, client_id="trainer", on_fatal=fatal, classifiers=[db_error_class]
    )
    engine = create_engine(
        settings.database_url_str,
        command_timeout_s=settings.database_command_timeout_s,
        acquire_timeout_s=settings.database_acquire_timeout_s,
    )
    sessions = create_session_factory(engine)
    registry = MlflowRegistry(settings.mlflow_url_str)
    runner = TrainingRunner(
        sessions=sessions,
        engine=engine,
        publisher=BrokerPublisher(runtime.broker),
        registry=registry,
        storage=StudyStorage(settings.sync_database_url, schema=settings.optuna_schema),
        config=config,
        model_name=settings.model_name,
        experiment=settings.experiment_name,
        sources=settings.training_sources,
        poll_s=settings.runner_poll_s,
        outcomes=RunOutcomes(runtime.metrics, service=settings.service_name),
    )
    runner.first_training = FirstTraining(
        sessions=sessions,
        registry=registry,
        model_name=settings.model_name,
        sources=settings.training_sources,
        min_rows=config.triggers.bootstrap_min_rows,
        on_request=runner.wake,
    )
    deps = TrainerDeps(settings, sessions, runner, runtime.metrics, config.triggers.new_labels)
    register_subscribers(runtime, deps)
    background = RunnerTask(runner=runner, stop_timeout_s=settings.kafka_graceful_timeout_s)

    async def dispose() -> None:
        await engine.dispose()

    return consumer_app(
        runtime,
        topics=ALL_TOPICS,
        ready={"database": DatabaseReady(engine)},
        after_startup=[background.start],
        on_shutdown=[background.stop],
        after_shutdown=[dispose],
    )
