"""The composition root of the gateway: it constructs and hands over; the data path lives in
the objects it builds (routes, :class:`RequestReplyClient`, adapters), never here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_contracts import LISTINGS_RAW, PREDICTION_REPLIES_DLQ, TopicSpec
from valora_contracts.data_contract import load_data_contract
from valora_db import create_engine, libpq_dsn
from valora_messaging import (
    ConsumerMetrics,
    TopicLister,
    TopicsExist,
    create_broker,
    prepare_topics,
)
from valora_messaging.request_reply import ReplyDeadLetters, RequestReplyClient
from valora_ml.tracking import use_tracking_server
from valora_observability import ServiceMetrics, configure_logging, freeze_heap

from valora_gateway.adapters.batch_jobs import SqlBatchJobStore
from valora_gateway.adapters.champion import ChampionLookup, ChampionSource, MlflowChampionSource
from valora_gateway.adapters.comparables import SqlComparablesReader
from valora_gateway.adapters.listings import ListingPublisher
from valora_gateway.adapters.predictions import SqlPredictionReader
from valora_gateway.adapters.reply_metrics import ReplyStatsCollector
from valora_gateway.adapters.upload_store import UploadWorkers
from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.entrypoints.app import create_http_app
from valora_gateway.entrypoints.deps import Services
from valora_gateway.entrypoints.job_runner import BatchJobRunner
from valora_gateway.settings import GatewaySettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


@dataclass
class _Runtime:
    """What starts and stops with the app, in order. Outside local the topics (the reply
    topic included) are the ``valora ops create-topics`` job's: until they exist the gateway
    serves its health routes, not ready, and starts the request-reply client once they do."""

    settings: GatewaySettings
    broker: KafkaBroker
    engine: AsyncEngine
    client: RequestReplyClient
    runner: BatchJobRunner
    uploads: UploadWorkers
    lister: TopicLister
    topics: list[TopicSpec]
    topics_exist: TopicsExist

    async def _start_clients(self) -> None:
        while not await self.topics_exist():  # noqa: ASYNC110 - polls the cluster, not a task
            await asyncio.sleep(self.settings.gateway_topic_wait_s)
        await self.client.start()
        await self.runner.start()
        freeze_heap(reason="gateway started")
        logger.info("gateway started", extra={"reply_topic": self.client.reply_topic})

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        missing = await prepare_topics(settings=self.settings, topics=self.topics)
        await self.uploads.start()
        await self.lister.start()
        await self.broker.start()
        starting: asyncio.Task[None] | None = None
        if missing:
            starting = asyncio.create_task(self._start_clients(), name="valora-gateway-start")
        else:
            await self._start_clients()
        try:
            yield
        finally:
            if starting is not None and not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
            await self.runner.stop()
            await self.client.stop()
            await self.broker.stop()
            await self.lister.stop()
            await self.uploads.stop()
            await self.engine.dispose()


def _reply_client(
    settings: GatewaySettings, broker: KafkaBroker, metrics: ServiceMetrics
) -> RequestReplyClient:
    return RequestReplyClient.from_settings(
        settings=settings,
        broker=broker,
        instance_id=settings.instance_id,
        timeout_s=settings.gateway_reply_timeout_s,
        limits=settings.client_limits(),
        dead_letter=ReplyDeadLetters(
            broker=broker,
            service=settings.service_name,
            metrics=ConsumerMetrics(registry=metrics.registry, service=settings.service_name),
        ),
    )


def _job_runner(
    settings: GatewaySettings, jobs: SqlBatchJobStore, client: RequestReplyClient
) -> BatchJobRunner:
    return BatchJobRunner(
        jobs=jobs,
        client=client,
        owner=settings.instance_id,
        chunk_rows=settings.gateway_job_chunk_rows,
        poll_s=settings.gateway_job_poll_s,
        stall_s=settings.gateway_job_stall_s,
        lease_s=settings.gateway_job_lease_s,
        max_attempts=settings.gateway_job_max_attempts,
    )


def build_app(
    settings: GatewaySettings | None = None,
    *,
    configure_logs: bool = True,
    champion_source: ChampionSource | None = None,
) -> FastAPI:
    """Wire the gateway; nothing connects until the app's lifespan starts."""
    settings = settings or GatewaySettings()
    if configure_logs:
        configure_logging(
            service=settings.service_name, level=settings.log_level, json=settings.log_json
        )
    metrics = ServiceMetrics(settings.service_name)
    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    broker = create_broker(settings=settings, client_id="gateway")
    engine = create_engine(
        settings.database_url_str,
        pool_size=settings.gateway_db_pool_size,
        command_timeout_s=settings.database_command_timeout_s,
        acquire_timeout_s=settings.database_acquire_timeout_s,
    )
    client = _reply_client(settings, broker, metrics)
    metrics.register(ReplyStatsCollector(service=settings.service_name, stats=client.stats))
    house_check = HouseCheck(load_data_contract(settings.data_contract_path))
    uploads = UploadWorkers(
        dsn=libpq_dsn(settings.database_url_str),
        size=settings.gateway_upload_workers,
        check=house_check,
    )
    jobs = SqlBatchJobStore(engine=engine, uploads=uploads)
    champion = ChampionLookup(
        source=champion_source or MlflowChampionSource(tracking_uri=settings.mlflow_url_str),
        model_name=settings.model_name,
        ttl_s=settings.gateway_champion_cache_s,
    )
    runner = _job_runner(settings, jobs, client)
    lister = TopicLister(settings=settings)
    topics = [*client.topics, LISTINGS_RAW, PREDICTION_REPLIES_DLQ]
    topics_exist = TopicsExist(lister=lister, topics=topics)
    services = Services(
        client=client,
        jobs=jobs,
        predictions=SqlPredictionReader(engine=engine),
        champion=champion,
        listings=ListingPublisher(broker=broker),
        runner=runner,
        ready_checks={
            "kafka": partial(broker.ping, timeout=1.0),
            "topics": topics_exist,
            "replies": client.is_ready,
            "champion": champion.is_ready,
        },
        house_check=house_check,
        comparables=SqlComparablesReader(engine=engine),
    )
    runtime = _Runtime(
        settings, broker, engine, client, runner, uploads, lister, topics, topics_exist
    )
    app = create_http_app(
        services=services, settings=settings, metrics=metrics, lifespan=runtime.lifespan
    )
    app.state.broker = broker  # its AsyncAPI: python -m valora_gateway asyncapi
    return app
