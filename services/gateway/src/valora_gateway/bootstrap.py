"""The composition root of the gateway: settings, logging, broker, engine, MLflow, app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from valora_contracts import LISTINGS_RAW, PREDICTIONS_REQUESTS, PredictionReply, reply_topic
from valora_db import create_engine
from valora_messaging import (
    OutgoingRecord,
    ProducerLanes,
    create_broker,
    encode_event,
    ensure_topics,
    records_decoder,
)
from valora_messaging import publish_many as publish_all
from valora_observability import ServiceMetrics, configure_logging, freeze_heap

from valora_gateway.app import create_http_app
from valora_gateway.batch_jobs import BatchJobRunner
from valora_gateway.champion import ChampionLookup, ChampionSource, MlflowChampionSource
from valora_gateway.client import PredictionClient
from valora_gateway.deps import Services
from valora_gateway.errors import BrokerUnavailableError, InvalidListingError
from valora_gateway.replies import ReplyRouter
from valora_gateway.repository import Repository
from valora_gateway.settings import GatewaySettings

__all__ = ["build_app"]

logger = logging.getLogger(__name__)


async def _await_own_reply(broker: KafkaBroker, router: ReplyRouter, timeout_s: float) -> None:
    """Publish a probe reply to our own topic until it comes back: from then on the reply
    consumer is positioned and no reply to a real request can be missed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        probe = PredictionReply(correlation_id=f"probe-{time.monotonic_ns()}", error="probe")
        waiter = router.expect(probe.correlation_id)
        await broker.publish(encode_event(probe), router.reply_topic)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, 2.0)
            return
    raise BrokerUnavailableError(f"reply topic {router.reply_topic} is not readable")


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
    engine = create_engine(settings.database_url_str, pool_size=settings.gateway_db_pool_size)
    replies = reply_topic(settings.instance_id)

    # Requests go out through several producers: one has a single produce request in flight,
    # and concurrent micro-batches would otherwise wait for each other's acknowledgement.
    lanes = ProducerLanes.from_settings(
        settings=settings, client_id="gateway", size=settings.kafka_producer_lanes
    )

    async def publish(topic: str, value: bytes, key: bytes) -> Any:
        return await lanes.send([OutgoingRecord(topic=topic, value=value, key=key)])

    router = ReplyRouter(
        publish=publish, requests_topic=PREDICTIONS_REQUESTS.name, reply_topic=replies.name
    )
    client = PredictionClient(
        router=router,
        timeout_s=settings.gateway_reply_timeout_s,
        max_items=settings.gateway_microbatch_max_items,
        window_s=settings.gateway_microbatch_window_ms / 1000.0,
        max_inflight=settings.gateway_microbatch_max_inflight,
    )
    repo = Repository(engine=engine)
    champion = ChampionLookup(
        source=champion_source or MlflowChampionSource(tracking_uri=settings.mlflow_url_str),
        model_name=settings.model_name,
        ttl_s=settings.gateway_champion_cache_s,
    )
    runner = BatchJobRunner(
        repo=repo,
        client=client,
        owner=settings.instance_id,
        chunk_rows=settings.gateway_job_chunk_rows,
        poll_s=settings.gateway_job_poll_s,
        stall_s=settings.gateway_job_stall_s,
        lease_s=settings.gateway_job_lease_s,
    )

    @broker.subscriber(
        replies.name,
        auto_offset_reset="latest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        ack_policy=AckPolicy.ACK_FIRST,
        decoder=records_decoder,
    )
    async def on_reply(records: Any) -> None:
        for record in records:
            router.on_reply(record.value)

    async def publish_listings(records: list[dict[str, Any]]) -> int:
        outgoing = []
        for number, r in enumerate(records):
            try:
                value = orjson.dumps(r)
                key = str(r["listing_id"]).encode() if r.get("listing_id") else None
            except (TypeError, UnicodeEncodeError) as exc:  # orjson.JSONEncodeError is a TypeError
                raise InvalidListingError(f"listing {number} cannot be encoded: {exc}") from exc
            outgoing.append(OutgoingRecord(topic=LISTINGS_RAW.name, value=value, key=key))
        try:
            return await publish_all(broker=broker, records=outgoing)
        except Exception as exc:
            raise BrokerUnavailableError(f"could not publish listings: {exc}") from exc

    listening = {"ok": False}

    async def kafka_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def replies_ready() -> bool:
        return listening["ok"]

    async def champion_ready() -> bool:
        return await champion.get() is not None

    services = Services(
        client=client,
        repo=repo,
        champion=champion,
        publish_listings=publish_listings,
        runner=runner,
        ready_checks={"kafka": kafka_ready, "replies": replies_ready, "champion": champion_ready},
        batch_max_items=settings.gateway_batch_max_items,
        batch_job_max_rows=settings.gateway_batch_job_max_rows,
        listings_topic=LISTINGS_RAW.name,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[PREDICTIONS_REQUESTS, LISTINGS_RAW, replies],
        )
        await broker.start()
        await lanes.start()
        await _await_own_reply(broker, router, timeout_s=30.0)
        listening["ok"] = True
        await client.batcher.start()
        runner_task = asyncio.create_task(runner.run_forever(), name="valora-batch-jobs")
        freeze_heap(reason="gateway started")
        logger.info("gateway started", extra={"reply_topic": replies.name})
        try:
            yield
        finally:
            listening["ok"] = False
            runner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner_task
            await client.batcher.stop()
            await lanes.stop()
            await broker.stop()
            await engine.dispose()

    return create_http_app(services=services, settings=settings, metrics=metrics, lifespan=lifespan)
