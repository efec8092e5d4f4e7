"""The drift monitor's PostgreSQL stores on a real server: the label join is idempotent (a
redelivered prediction, sale or listing price reports no new outcome), a listing price never
replaces a sale, rolling performance reads the joined rows, and ``valora drift report``'s read
model sees the windows the monitor records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from valora_db import create_engine, create_session_factory
from valora_db.read_models.drift_windows import latest_judged_window
from valora_drift_monitor.adapters.alerts_store import PgAlertStore
from valora_drift_monitor.adapters.outcomes_store import PgOutcomeStore
from valora_drift_monitor.domain.ports import LabelRow, PredictionRow, WindowRecord

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
T0 = datetime(2000, 1, 1, tzinfo=UTC)  # older than anything else: pruning touches only ours
DAY = timedelta(days=1)


async def test_label_join_is_idempotent_and_a_sale_wins(devstack: Any) -> None:
    engine = create_engine(devstack.database_url, pool_size=2)
    store = PgOutcomeStore(create_session_factory(engine))
    model = f"it-drift-store-{uuid.uuid4().hex[:8]}"
    ids = [f"{model}-{i}" for i in range(3)]
    try:
        predictions = [
            PredictionRow(model, lid, "1", 100.0 + i, "Centro", T0) for i, lid in enumerate(ids)
        ]
        assert await store.add_predictions(predictions) == set()  # nothing sold yet
        sales = [LabelRow(lid, 120.0 + i, T0 + DAY) for i, lid in enumerate(ids[:2])]
        assert await store.add_sales(model, sales) == {"1"}
        assert await store.add_sales(model, sales) == set()  # a redelivered sale
        assert await store.add_predictions(predictions) == set()  # a redelivered prediction
        later = [PredictionRow(model, ids[0], "1", 100.0, "Centro", T0 + DAY / 2)]
        assert await store.add_predictions(later) == set()  # re-published later: same outcome

        prices = [LabelRow(lid, 1000.0, T0 + 2 * DAY) for lid in ids]
        assert await store.add_listing_prices(model, prices) == {"1"}  # only the unsold one
        assert await store.add_listing_prices(model, prices) == set()

        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT listing_id, actual_price, label_source FROM drift_outcomes "
                    "WHERE model_name = :m ORDER BY listing_id"
                ),
                {"m": model},
            )
            assert [tuple(r) for r in rows] == [
                (ids[0], 120.0, "sale"),
                (ids[1], 121.0, "sale"),
                (ids[2], 1000.0, "listing"),
            ]

        perfs = await store.performance(
            model_name=model, model_version="1", size=10, since=T0 - DAY, segments=True
        )
        by_segment = {p.segment: p for p in perfs}
        assert sorted(by_segment) == ["all", "neighbourhood=Centro"]
        overall = by_segment["all"]
        assert overall.size == 3
        assert overall.mae == pytest.approx((20.0 + 20.0 + 898.0) / 3)
        assert overall.mape == pytest.approx((20 / 120 + 20 / 121 + 898 / 1000) / 3)
        assert (overall.start, overall.end) == (T0 + DAY, T0 + 2 * DAY)
        alone = await store.performance(
            model_name=model, model_version="1", size=2, since=T0 - DAY, segments=False
        )
        assert [(p.segment, p.size) for p in alone] == [("all", 2)]

        resold = [LabelRow(ids[0], 130.0, T0 + DAY)]
        assert await store.add_sales(model, resold) == {"1"}  # a corrected sale price counts

        assert await store.prune(before=T0 + 3 * DAY) == 3 + 2 + 3
        async with engine.connect() as conn:
            left = await conn.execute(
                text("SELECT count(*) FROM drift_predictions WHERE model_name = :m"), {"m": model}
            )
            assert left.scalar_one() == 0
    finally:
        await engine.dispose()


async def test_drift_report_reads_the_latest_recorded_window(devstack: Any) -> None:
    engine = create_engine(devstack.database_url, pool_size=2)
    alerts = PgAlertStore(create_session_factory(engine))
    model = f"it-drift-report-{uuid.uuid4().hex[:8]}"
    try:
        assert await latest_judged_window(engine, model_name=model, kind="data") is None
        for size in (500, 700):
            record = WindowRecord(
                model_name=model,
                model_version="3",
                kind="data",
                start=T0,
                end=T0 + DAY,
                size=size,
                replica="r",
                features=[{"feature": "area", "psi": 0.1}],
            )
            await alerts.record_window(record)
        window = await latest_judged_window(engine, model_name=model, kind="data")
        assert window is not None
        assert (window.model_version, window.size, window.window_end) == ("3", 700, T0 + DAY)
        assert window.features == [{"feature": "area", "psi": 0.1}]
        assert await latest_judged_window(engine, model_name=model, kind="prediction") is None
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM drift_windows WHERE model_name = :m"), {"m": model}
            )
        await engine.dispose()


async def test_shadow_pairs_join_sales_and_a_challenger_is_decided_once(devstack: Any) -> None:
    """Pairs are the latest per listing, join the sales the outcome store keeps (oldest sale
    first, only sales at or after the pair), a look is recorded, and the decision is written
    once with its event in the outbox; ``valora models status``'s read model sees it."""
    from valora_db.read_models.shadow_evaluations import challenger_evaluations
    from valora_drift_monitor.adapters.shadow_store import PgShadowStore
    from valora_drift_monitor.domain.ports import OutboxEntry
    from valora_drift_monitor.domain.shadow import PairRow

    engine = create_engine(devstack.database_url, pool_size=2)
    factory = create_session_factory(engine)
    shadow, outcomes = PgShadowStore(factory), PgOutcomeStore(factory)
    model = f"it-shadow-store-{uuid.uuid4().hex[:8]}"
    ids = [f"{model}-{i}" for i in range(4)]

    def pair(lid: str, price: float, at: datetime) -> PairRow:
        return PairRow(model, "2", lid, "1", price, price - 10, price + 10,
                       price + 5, price - 5, price + 15, at)  # fmt: skip

    try:
        seen = await shadow.add_pairs(
            model, [pair(lid, 100.0 + i, T0) for i, lid in enumerate(ids)]
        )
        assert seen == {"2"}
        await shadow.add_pairs(model, [pair(ids[0], 150.0, T0 + DAY / 4)])  # re-valued later
        await shadow.add_pairs(model, [pair(ids[1], 999.0, T0 - DAY)])  # older: ignored
        [opened] = await shadow.open_evaluations(model)
        assert (opened.challenger_version, opened.champion_version, opened.looks_taken) == (
            "2", "1", 0,
        )  # fmt: skip
        sales = [
            LabelRow(ids[1], 120.0, T0 + DAY),
            LabelRow(ids[0], 160.0, T0 + 2 * DAY),
            LabelRow(ids[2], 90.0, T0 - DAY),  # sold before it was valued: no pair
        ]
        await outcomes.add_sales(model, sales)
        paired = await shadow.paired(model_name=model, version="2", cap=10)
        assert paired.actual.tolist() == [120.0, 160.0]  # oldest sale first
        assert paired.champion.tolist() == [101.0, 150.0]
        assert paired.challenger.tolist() == [106.0, 155.0]
        assert paired.challenger_upper.tolist() == [116.0, 165.0]
        assert len(await shadow.paired(model_name=model, version="2", cap=1)) == 1

        await shadow.record(model_name=model, version="2", figures={"look": 1}, paired_sales=2)
        assert [e.looks_taken for e in await shadow.open_evaluations(model)] == [1]
        event = OutboxEntry(uuid.uuid4().hex, "models.verdict.v1", model.encode(), b"{}")
        decided = await shadow.decide(model_name=model, version="2", decision="promote",
                                      explanation="better", figures={"look": 1, "p_value": 0.001},
                                      paired_sales=2, event=event)  # fmt: skip
        assert decided
        late = OutboxEntry(uuid.uuid4().hex, "t", None, b"{}")
        again = await shadow.decide(model_name=model, version="2", decision="retire",
                                    explanation="late", figures=None, paired_sales=None,
                                    event=late)  # fmt: skip
        assert not again
        assert await shadow.open_evaluations(model) == []
        [status] = await challenger_evaluations(engine, model_name=model)
        assert (status.decision, status.explanation, status.paired_sales) == (
            "promote",
            "better",
            2,
        )
        assert status.figures["p_value"] == 0.001
        async with engine.connect() as conn:
            outbox = await conn.execute(
                text("SELECT count(*) FROM drift_outbox WHERE key = :k"), {"k": model.encode()}
            )
            assert outbox.scalar_one() == 1
    finally:
        async with engine.begin() as conn:
            for table in ("drift_shadow_pairs", "drift_shadow_evaluations"):
                await conn.execute(text(f"DELETE FROM {table} WHERE model_name = :m"), {"m": model})
            await conn.execute(
                text("DELETE FROM drift_outbox WHERE key = :k"), {"k": model.encode()}
            )
            await conn.execute(
                text("DELETE FROM drift_sales WHERE listing_id = ANY(:i)"), {"i": ids}
            )
        await engine.dispose()
