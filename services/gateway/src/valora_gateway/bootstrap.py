"""The composition root of the gateway: it constructs and hands over; the data path lives in
the objects it builds (routes, :class:`RequestReplyClient`, adapters), never here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine
from valora_contracts import LISTINGS_RAW, PREDICTION_REPLIES_DLQ
from valora_contracts.data_contract import load_data_contract
from valora_db import create_engine
from valora_messaging import ConsumerMetrics, create_broker, ensure_topics
from valora_messaging.request_reply import ReplyDeadLetters, RequestReplyClient
from valora_observability import ServiceMetrics, configure_logging, freeze_heap

from valora_gateway.adapters.batch_jobs import SqlBatchJobStore
from valora_gateway.adapters.champion import ChampionLookup, ChampionSource, MlflowChampionSource
from valora_gateway.adapters.comparables import SqlComparablesReader
from valora_gateway.adapters.listings import ListingPublisher
from valora_gateway.adapters.predictions import SqlPredictionReader
from valora_gateway.adapters.reply_metrics import ReplyStatsCollector
from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.entrypoints.app import create_http_app
from valora_gateway.entrypoints.deps import Services
from valora_gateway.entrypoints.job_runner import BatchJobRunner
from valora_gateway.settings import GatewaySettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


@dataclass
class _Runtime:
    """What starts and stops with the app, in order."""

    settings: GatewaySettings
    broker: KafkaBroker
    engine: AsyncEngine
    client: RequestReplyClient
    runner: BatchJobRunner

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            topics=[*self.client.topics, LISTINGS_RAW, PREDICTION_REPLIES_DLQ],
        )
        await self.broker.start()
        await self.client.start()
        await self.runner.start()
        freeze_heap(reason="gateway started")
        logger.info("gateway started", extra={"reply_topic": self.client.reply_topic})
        try:
            yield
        finally:
            await self.runner.stop()
            await self.client.stop()
            await self.broker.stop()
            await self.engine.dispose()


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
    broker = create_broker(settings=settings, client_id="gateway")
    engine = create_engine(
        settings.database_url_str,
        pool_size=settings.gateway_db_pool_size,
        command_timeout_s=settings.database_command_timeout_s,
        acquire_timeout_s=settings.database_acquire_timeout_s,
    )
    client = RequestReplyClient.from_settings(
        settings=settings,
        broker=broker,
        instance_id=settings.instance_id,
        timeout_s=settings.gateway_reply_timeout_s,
        max_items=settings.gateway_microbatch_max_items,
        window_s=settings.gateway_microbatch_window_ms / 1000.0,
        max_inflight=settings.gateway_microbatch_max_inflight,
        dead_letter=ReplyDeadLetters(
            broker=broker,
            service=settings.service_name,
            metrics=ConsumerMetrics(registry=metrics.registry, service=settings.service_name),
        ),
    )
    metrics.register(ReplyStatsCollector(service=settings.service_name, stats=client.stats))
    jobs = SqlBatchJobStore(engine=engine)
    champion = ChampionLookup(
        source=champion_source or MlflowChampionSource(tracking_uri=settings.mlflow_url_str),
        model_name=settings.model_name,
        ttl_s=settings.gateway_champion_cache_s,
    )
    runner = BatchJobRunner(
        jobs=jobs,
        client=client,
        owner=settings.instance_id,
        chunk_rows=settings.gateway_job_chunk_rows,
        poll_s=settings.gateway_job_poll_s,
        stall_s=settings.gateway_job_stall_s,
        lease_s=settings.gateway_job_lease_s,
    )
    services = Services(
        client=client,
        jobs=jobs,
        predictions=SqlPredictionReader(engine=engine),
        champion=champion,
        listings=ListingPublisher(broker=broker),
        runner=runner,
        ready_checks={
            "kafka": partial(broker.ping, timeout=1.0),
            "replies": client.is_ready,
            "champion": champion.is_ready,
        },
        house_check=HouseCheck(load_data_contract(settings.data_contract_path)),
        comparables=SqlComparablesReader(engine=engine),
    )
    runtime = _Runtime(settings, broker, engine, client, runner)
    return create_http_app(
        services=services, settings=settings, metrics=metrics, lifespan=runtime.lifespan
    )
