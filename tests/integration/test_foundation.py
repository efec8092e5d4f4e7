"""Foundation acceptance on real components: Kafka, PostgreSQL (Alembic), MLflow over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from valora_contracts import LISTINGS_INGESTED, IngestedListing, ListingFeatures
from valora_db import (
    create_engine,
    create_session_factory,
    current_revision,
    head_revision,
    session_scope,
    upgrade_head,
)
from valora_db.tables.gateway import batch_jobs
from valora_messaging import (
    KafkaSettings,
    OutgoingRecord,
    create_broker,
    decode_event,
    encode_event,
    kafka_security,
    publish_many,
)

pytestmark = pytest.mark.integration

N_EVENTS = 10_000
N_KEYS = 97


async def _end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        isolation_level="read_committed",
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def test_kafka_round_trips_10000_typed_events_in_order_per_key(devstack: Any) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    topic = LISTINGS_INGESTED.name
    run = uuid.uuid4().hex[:8]
    source = f"it-foundation-{run}"
    start = await _end_offsets(bootstrap, topic, LISTINGS_INGESTED.partitions)
    assert len(start) == LISTINGS_INGESTED.partitions

    now = datetime.now(UTC)
    sent: dict[str, list[int]] = defaultdict(list)
    records = []
    for seq in range(N_EVENTS):
        listing_id = f"{run}-{seq % N_KEYS}"
        sent[listing_id].append(seq)
        event = IngestedListing(
            listing_id=listing_id,
            source=source,
            ingested_at=now,
            features=ListingFeatures(
                area=50 + seq % 200,
                bedrooms=seq % 5,
                bathrooms=1,
                age=seq % 40,
                garage=seq % 3,
                neighbourhood="Centro",
            ),
            price=100_000.0 + seq,
            content_hash=f"h{seq}",
        )
        records.append(
            OutgoingRecord(
                topic=topic,
                value=encode_event(event),
                key=listing_id.encode(),
                headers={"seq": str(seq)},
            )
        )

    broker = create_broker(
        settings=KafkaSettings(kafka_bootstrap_servers=bootstrap), client_id="it"
    )
    await broker.connect()
    try:
        assert await publish_many(broker=broker, records=records) == N_EVENTS
    finally:
        await broker.stop()

    received: dict[str, list[int]] = defaultdict(list)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        total = 0
        async with asyncio.timeout(60):
            while total < N_EVENTS:
                batch = await consumer.getmany(timeout_ms=500)
                for records_ in batch.values():
                    for record in records_:
                        event = decode_event(record.value, IngestedListing)
                        if event.source != source:
                            continue
                        assert record.key == event.listing_id.encode()
                        seq = int(dict(record.headers)["seq"].decode())
                        assert event.price == 100_000.0 + seq
                        received[event.listing_id].append(seq)
                        total += 1
    finally:
        await consumer.stop()

    assert sum(len(v) for v in received.values()) == N_EVENTS
    assert received == sent  # every event back, in publish order within each key


async def test_alembic_migrations_and_row_round_trip(devstack: Any) -> None:
    url = devstack.database_url
    await asyncio.to_thread(upgrade_head, url)  # idempotent: already applied by the stack
    assert await current_revision(url) == head_revision()

    engine = create_engine(url)
    factory = create_session_factory(engine)
    job_id = uuid.uuid4().hex
    try:
        for _ in range(2):  # a second insert of the same key must not add a row
            async with session_scope(factory) as session:
                await session.execute(
                    insert(batch_jobs)
                    .values(job_id=job_id, status="pending", input_format="csv", total_rows=1)
                    .on_conflict_do_nothing()
                )
        async with session_scope(factory) as session:
            rows = (
                (await session.execute(select(batch_jobs).where(batch_jobs.c.job_id == job_id)))
                .mappings()
                .all()
            )
            await session.execute(delete(batch_jobs).where(batch_jobs.c.job_id == job_id))
            dropped = await session.scalar(select(func.to_regclass("processed_events")))
        assert len(rows) == 1
        assert rows[0]["invalid_rows"] == 0  # the migration's server default
        assert rows[0]["created_at"].tzinfo is not None
        assert dropped is None  # migration 0035 dropped the unused ledger
    finally:
        await engine.dispose()


def test_mlflow_logs_registers_and_loads_a_sklearn_model(devstack: Any) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestRegressor

    mlflow.set_tracking_uri(devstack.mlflow_tracking_uri)
    name = f"it-foundation-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, 2.0, -1.0]) + rng.normal(scale=0.1, size=200)
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(x, y)

    mlflow.set_experiment("it-foundation")
    with mlflow.start_run() as run:
        mlflow.log_metric("train_r2", float(model.score(x, y)))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x, model.predict(x)),
            input_example=x[:2],
            registered_model_name=name,
            serialization_format="pickle",  # chosen deliberately: our own trusted model
        )
    client = MlflowClient(devstack.mlflow_tracking_uri)
    version = client.get_model_version(name, str(info.registered_model_version))
    assert version.run_id == run.info.run_id
    client.set_registered_model_alias(name, "champion", version.version)

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(loaded.predict(x[:20]), model.predict(x[:20]))
    assert str(info.registered_model_version) == version.version == "1"
