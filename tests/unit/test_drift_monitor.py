"""Drift-monitor handlers with in-memory fakes: windows, dead letters, alerts, performance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from valora_contracts import DriftWindow, ModelMetrics, ModelPromoted, SaleObserved
from valora_drift_monitor.alerting import AlertPolicy, ConditionState
from valora_drift_monitor.engine import AlertEngine
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
from valora_drift_monitor.planning import Evaluation, Plan, RetrainPolicy, plan
from valora_drift_monitor.ports import LabelRow, PredictionRow, SegmentPerformance, WindowRecord
from valora_drift_monitor.reference import Reference, References
from valora_drift_monitor.settings import DriftSettings
from valora_drift_monitor.views import parse_listing
from valora_messaging import InRecord, OutgoingRecord
from valora_ml.profile import build_reference_profile
from valora_ml.synthetic import DriftSpec, generate_listings
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeAlerts:
    def __init__(self) -> None:
        self.states: dict[str, ConditionState] = {}
        self.windows: list[WindowRecord] = []
        self.published: list[str] = []

    async def apply(
        self,
        evaluations: Sequence[Evaluation],
        *,
        now: datetime,
        policy: AlertPolicy,
        retrain: RetrainPolicy,
    ) -> Plan:
        result = plan(self.states, evaluations, now=now, policy=policy, retrain=retrain)
        self.states.update(result.states)
        return result

    async def record_window(self, record: WindowRecord) -> None:
        self.windows.append(record)

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        self.published += event_ids


class FakeOutcomes:
    def __init__(self) -> None:
        self.predictions: dict[str, PredictionRow] = {}
        self.pairs: list[tuple[PredictionRow, float]] = []

    async def add_predictions(self, rows: Sequence[PredictionRow]) -> set[str]:
        self.predictions.update({r.listing_id: r for r in rows})
        return set()

    async def add_sales(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        joined = [
            (self.predictions[r.listing_id], r.price)
            for r in rows
            if r.listing_id in self.predictions
        ]
        self.pairs += joined
        return {p.model_version for p, _ in joined}

    async def add_listing_prices(self, model_name: str, rows: Sequence[LabelRow]) -> set[str]:
        return set()

    async def performance(self, **_: Any) -> list[SegmentPerformance]:
        errors = [abs(p.predicted_price - y) for p, y in self.pairs]
        pct = [abs(p.predicted_price - y) / y for p, y in self.pairs]
        n = len(errors)
        return [SegmentPerformance("1", "all", n, sum(errors) / n, sum(pct) / n, T0, T0)]


class FakeSink:
    def __init__(self) -> None:
        self.outputs: list[OutgoingRecord] = []
        self.failed: list[Any] = []

    async def write(
        self, *, outputs: Sequence[OutgoingRecord], failed: Sequence[Any], offsets: Any
    ) -> None:
        self.outputs += outputs
        self.failed += failed

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def healthy(self) -> bool:
        return True


class FakeSource:
    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def champion_version(self, model_name: str) -> tuple[str, str] | None:
        return self.reference.model_version, self.reference.run_id

    def load(self, model_name: str, version: str, run_id: str | None = None) -> Reference:
        return self.reference


@pytest.fixture(scope="module")
def reference() -> Reference:
    frame = generate_listings(20_000, seed=3)
    profile = build_reference_profile(frame, frame["price"].to_numpy())
    return Reference("m", "1", "run", profile, test_mae=20_000.0, test_mape=0.05)


def listing_record(i: int, row: dict[str, Any], at: datetime) -> InRecord:
    body = {
        "listing_id": f"l{i}",
        "occurred_at": at.isoformat(),
        "price": row["price"],
        "features": {
            k: row[k] for k in ("area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood")
        },
    }
    return InRecord(
        value=orjson.dumps(body), key=None, topic="listings.validated.v1", partition=0, offset=i
    )


class Rig:
    def __init__(self, reference: Reference, **overrides: Any) -> None:
        self.settings = DriftSettings(drift_window_size=500, drift_auto_retrain=True, **overrides)
        self.metrics = DriftMetrics(metrics=ServiceMetrics("drift-test"), model_name="m")
        self.alerts = FakeAlerts()
        self.outcomes = FakeOutcomes()
        self.sink = FakeSink()
        self.references = References(source=FakeSource(reference), model_name="m")
        self.references.champion = reference
        engine = AlertEngine(
            store=self.alerts,  # type: ignore[arg-type]
            metrics=self.metrics,
            policy=AlertPolicy(cooldown_s=3600, resolve_after=1),
            retrain=RetrainPolicy(enabled=True, cooldown_s=3600),
        )
        self.output = Output(engine=engine, sink=self.sink, metrics=self.metrics)
        common: dict[str, Any] = {
            "references": self.references,
            "metrics": self.metrics,
            "settings": self.settings,
        }
        self.performance = PerformanceMonitor(outcomes=self.outcomes, **common)  # type: ignore[arg-type]
        self.listings = ListingsHandler(
            model_name="m",
            data=DataDriftMonitor(alerts=self.alerts, **common),  # type: ignore[arg-type]
            performance=self.performance,
            outcomes=self.outcomes,  # type: ignore[arg-type]
            output=self.output,
            listing_labels=True,
        )

    def topics(self) -> list[str]:
        return [r.topic for r in self.sink.outputs]

    def alert_bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.sink.outputs if r.topic == "drift.alerts.v1"]


async def test_listings_windows_alert_once_and_dead_letter_bad_records(
    reference: Reference,
) -> None:
    rig = Rig(reference)
    normal = generate_listings(1000, seed=10).to_dict("records")
    shifted = generate_listings(1500, seed=11, drift=DriftSpec(shift={"area": 1.3})).to_dict(
        "records"
    )
    records = [
        listing_record(i, r, T0 + timedelta(seconds=i)) for i, r in enumerate(normal + shifted)
    ]
    bad = InRecord(
        value=b"{not json", key=b"k", topic="listings.validated.v1", partition=0, offset=9999
    )
    await rig.listings.handle_batch([*records[:1000], bad])
    assert rig.alert_bodies() == []
    assert len(rig.sink.failed) == 1
    assert len(rig.alerts.windows) == 2
    await rig.listings.handle_batch(records[1000:])
    alerts = rig.alert_bodies()
    assert [(a["feature"], a["severity"], a["state"]) for a in alerts] == [
        ("area", "critical", "firing")
    ]
    assert rig.topics().count("training.requests.v1") == 1
    assert len(rig.alerts.published) == 2
    text = generate_latest(rig.metrics.base.registry).decode()
    assert 'valora_drift_alert_firing{feature="area"' in text
    assert "valora_drift_psi" in text


async def test_without_a_champion_windows_are_counted_not_judged(reference: Reference) -> None:
    rig = Rig(reference)
    rig.references.champion = None
    rows = generate_listings(500, seed=12, drift=DriftSpec(shift={"area": 2.0})).to_dict("records")
    await rig.listings.handle_batch([listing_record(i, r, T0) for i, r in enumerate(rows)])
    assert rig.alert_bodies() == []
    assert (
        'valora_drift_unreferenced_total{kind="data"'
        in generate_latest(rig.metrics.base.registry).decode()
    )


async def test_predictions_and_inflated_sales_fire_a_performance_alert(
    reference: Reference,
) -> None:
    rig = Rig(reference, drift_performance_min_size=50)
    predictions = PredictionsHandler(
        model_name="m",
        predictions=PredictionDriftMonitor(
            references=rig.references,
            alerts=rig.alerts,
            metrics=rig.metrics,
            settings=rig.settings,  # type: ignore[arg-type]
        ),
        performance=rig.performance,
        outcomes=rig.outcomes,  # type: ignore[arg-type]
        output=rig.output,
    )
    sales = SalesHandler(
        model_name="m", performance=rig.performance, outcomes=rig.outcomes, output=rig.output
    )  # type: ignore[arg-type]
    frame = generate_listings(100, seed=13)
    made = []
    for i, row in enumerate(frame.to_dict("records")):
        body = {
            "occurred_at": T0.isoformat(),
            "features": {"neighbourhood": row["neighbourhood"]},
            "result": {
                "listing_id": f"p{i}",
                "price": row["price"],
                "model_name": "m",
                "model_version": "1",
            },
        }
        made.append(InRecord(orjson.dumps(body), None, "predictions.made.v1", 0, i))
    await predictions.handle_batch(made)
    sold = [
        InRecord(
            SaleObserved(listing_id=f"p{i}", sale_price=price * 1.2, sold_at=T0 + timedelta(days=1))
            .model_dump_json()
            .encode(),
            None,
            "sales.observed.v1",
            0,
            i,
        )
        for i, price in enumerate(frame["price"])
    ]
    await sales.handle_batch(sold)
    perf = [a for a in rig.alert_bodies() if a["kind"] == "performance"]
    assert len(perf) == 1
    assert perf[0]["statistic"] == "mape"
    assert perf[0]["value"] == pytest.approx(1 / 6, rel=1e-6)  # |p - 1.2p| / 1.2p
    assert perf[0]["threshold"] == pytest.approx(0.05 * 2.0)


async def test_promotion_reloads_the_reference_and_takes_metrics_from_the_event(
    reference: Reference,
) -> None:
    rig = Rig(reference)
    rig.references.champion = None
    handler = PromotionsHandler(references=rig.references, metrics=rig.metrics)
    event = ModelPromoted(
        model_name="m",
        model_version="1",
        run_id="run",
        metrics=ModelMetrics(
            rmse=1, mae=123.0, mape=0.07, r2=0.9, interval_coverage=0.9, n_train=1, n_test=1
        ),
    )
    await handler.handle(event.model_dump_json().encode())
    await handler.handle(b"garbage")  # ignored, not fatal
    assert rig.references.champion is not None
    assert rig.references.champion.test_mape == 0.07


def test_parse_listing_fast_path_and_contract_fallback() -> None:
    body = {
        "listing_id": "a",
        "occurred_at": "2026-01-01T00:00:00Z",
        "price": 1.0,
        "features": {
            "area": 50,
            "bedrooms": 1,
            "bathrooms": 1,
            "age": 0,
            "garage": 0,
            "neighbourhood": " X ",
        },
    }
    view = parse_listing(orjson.dumps(body))
    assert view.row == (50.0, 1.0, 1.0, 0.0, 0.0, "X")
    body["features"] = {**body["features"], "area": -1}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="area"):
        parse_listing(orjson.dumps(body))


def test_window_dataclass_round_trip() -> None:
    window = DriftWindow(start=T0, end=T0, size=3)
    assert window.size == 3
