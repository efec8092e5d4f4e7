"""The predictor's PostgreSQL store on a real server: idempotent bulk insert, and a batch that
survives its pooled connection being killed (no ping: one retry on a fresh connection)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from valora_predictor.adapters.store import SqlPredictionStore
from valora_predictor.domain.predictions import PredictionRow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _rows(model: str, n: int, *, prefix: str) -> list[PredictionRow]:
    return [
        PredictionRow(
            prediction_id=uuid.uuid4().hex,
            source="sync",
            input_id=f"{prefix}-{i}",
            listing_id=None,
            batch_job_id=None,
            correlation_id="c",
            features={"area": 50.0 + i, "neighbourhood": "Centro"},
            price=100_000.0 + i,
            lower_bound=90_000.0,
            upper_bound=110_000.0 + i,
            interval_level=0.9,
            model_name=model,
            model_version="1",
            run_id="r",
            input_hash=f"h{i}",
            trace_id="t",
            latency_ms=0.5,
            warnings=["w"] if i == 0 else [],
        )
        for i in range(n)
    ]


@pytest.fixture
async def engine(devstack: Any) -> AsyncIterator[AsyncEngine]:
    """For the test's own queries."""
    engine = create_async_engine(devstack.database_url, pool_size=1)
    yield engine
    async with engine.connect() as conn:
        await conn.execute(text("DELETE FROM predictions WHERE model_name LIKE 'store-test-%'"))
        await conn.commit()
    await engine.dispose()


@pytest.fixture
async def store(devstack: Any) -> AsyncIterator[SqlPredictionStore]:
    """The predictor's store with one pooled connection, tagged so the test can kill it."""
    store = SqlPredictionStore(
        database_url=devstack.database_url,
        pool_size=1,
        application_name=f"store-test-{uuid.uuid4().hex[:8]}",
    )
    await store.start()
    yield store
    await store.close()


async def _count(engine: AsyncEngine, model: str) -> int:
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM predictions WHERE model_name = :m")
        return int((await conn.execute(query, {"m": model})).scalar_one())


async def test_bulk_insert_is_idempotent_and_returns_the_stored_rows(
    store: SqlPredictionStore, engine: AsyncEngine
) -> None:
    model = f"store-test-{uuid.uuid4().hex[:6]}"
    first = _rows(model, 300, prefix="a")
    stored = await store.save(first)
    assert {r.prediction_id for r in stored.values()} == {r.prediction_id for r in first}
    again = _rows(model, 300, prefix="a")  # a redelivery: same keys, new prediction ids
    replayed = await store.save(again)
    assert {k: r.prediction_id for k, r in replayed.items()} == {
        r.key: r.prediction_id for r in first
    }  # the rows on record, not the new ones
    assert replayed[first[0].key] == first[0]  # every column as stored (jsonb decoded)
    assert replayed[first[0].key].warnings == ["w"]
    assert await _count(engine, model) == 300


async def test_a_killed_connection_is_replaced_and_the_batch_stored_once(
    store: SqlPredictionStore, engine: AsyncEngine
) -> None:
    model = f"store-test-{uuid.uuid4().hex[:6]}"
    await store.save(_rows(model, 5, prefix="before"))  # the pool now holds one connection
    async with engine.connect() as conn:
        killed = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :app"
                ),
                {"app": store.application_name},
            )
        ).scalar_one()
    assert killed == 1
    stored = await store.save(_rows(model, 5, prefix="after"))  # retried on a new connection
    assert len(stored) == 5
    assert await _count(engine, model) == 10


async def test_shadow_answers_are_stored_by_the_same_statement_once(
    store: SqlPredictionStore, engine: AsyncEngine
) -> None:
    """The challenger's answers go in with their rows (one statement); a redelivery, with new
    prediction ids and a fresh shadow answer, adds neither a prediction nor a shadow row."""
    from dataclasses import replace

    from valora_predictor.domain.predictions import ShadowAnswer

    model = f"store-test-{uuid.uuid4().hex[:6]}"

    def shadowed(rows: list[PredictionRow]) -> list[PredictionRow]:
        return [
            replace(r, shadow=ShadowAnswer("2", r.price + 7.0, r.lower_bound, r.upper_bound))
            if i % 2 == 0
            else r
            for i, r in enumerate(rows)
        ]

    first = shadowed(_rows(model, 40, prefix="s"))
    await store.save(first)
    await store.save(shadowed(_rows(model, 40, prefix="s")))  # redelivered
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT s.prediction_id, s.model_version, s.price, p.price FROM"
                    " shadow_predictions s JOIN predictions p USING (prediction_id)"
                    " WHERE s.model_name = :m"
                ),
                {"m": model},
            )
        ).all()
        await conn.execute(
            text("DELETE FROM shadow_predictions WHERE model_name = :m"), {"m": model}
        )
        await conn.commit()
    assert len(rows) == 20
    assert {r[0] for r in rows} == {r.prediction_id for r in first if r.shadow is not None}
    assert all(r[1] == "2" and r[2] == r[3] + 7.0 for r in rows)
    assert await _count(engine, model) == 40
