"""The composition root: settings, logging, broker, database, MLflow, runner, ASGI app."""

from __future__ import annotations

import asyncio
import logging

from faststream.asgi import AsgiFastStream
from sqlalchemy import text
from valora_contracts import ALL_TOPICS
from valora_db import create_engine, create_session_factory
from valora_messaging import create_broker, ensure_topics
from valora_observability import (
    ServiceMetrics,
    configure_logging,
    freeze_heap,
    metrics_app,
    service_routes,
)

from valora_trainer.adapters.publisher import BrokerPublisher
from valora_trainer.adapters.registry import MlflowRegistry
from valora_trainer.adapters.study_storage import StudyStorage
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.entrypoints.runner import RunOutcomes, TrainingRunner
from valora_trainer.entrypoints.subscribers import TrainerDeps, register_subscribers
from valora_trainer.settings import TrainerSettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


def build_app(settings: TrainerSettings, *, config: TrainingConfig | None = None) -> AsgiFastStream:
    """The trainer app: subscribers, background runner, ``/metrics``, ``/health/*``."""
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    config = config or load_config(settings.training_config)
    metrics = ServiceMetrics(settings.service_name)
    broker = create_broker(settings=settings, client_id=settings.service_name)
    engine = create_engine(settings.database_url_str)
    sessions = create_session_factory(engine)
    runner = TrainingRunner(
        sessions=sessions,
        engine=engine,
        publisher=BrokerPublisher(broker),
        registry=MlflowRegistry(settings.mlflow_url_str),
        storage=StudyStorage(settings.sync_database_url, schema=settings.optuna_schema),
        config=config,
        model_name=settings.model_name,
        experiment=settings.experiment_name,
        sources=settings.training_sources,
        poll_s=settings.runner_poll_s,
        outcomes=RunOutcomes(metrics, service=settings.service_name),
    )
    deps = TrainerDeps(settings, sessions, runner, metrics, config.triggers.new_labels)
    register_subscribers(broker, deps)
    tasks: list[asyncio.Task[None]] = []

    async def database_ready() -> bool:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=2.0))

    async def on_startup() -> None:
        await ensure_topics(bootstrap_servers=settings.kafka_bootstrap_servers, topics=ALL_TOPICS)

    async def after_startup() -> None:
        await runner.request_first_training(min_rows=config.triggers.bootstrap_min_rows)
        tasks.append(asyncio.create_task(runner.run_forever(), name="training-runner"))
        freeze_heap(reason="trainer started")
        logger.info("trainer started", extra={"model_name": settings.model_name})

    async def on_shutdown() -> None:
        runner.request_stop()
        for task in tasks:
            try:
                await asyncio.wait_for(task, timeout=settings.kafka_graceful_timeout_s)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def after_shutdown() -> None:
        await engine.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=service_routes(
            metrics_app=metrics_app(metrics),
            ready={"database": database_ready, "kafka": broker_ready},
        ),
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
