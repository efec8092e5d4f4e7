"""Drift-monitor handlers with in-memory fakes: windows, dead letters, alerts, performance, and
each listing and prediction counted once however often it is delivered."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from valora_contracts import (
    LISTINGS_VALIDATED,
    PREDICTIONS_MADE,
    SALES_OBSERVED,
    ModelMetrics,
    ModelPromoted,
    SaleObserved,
    TopicSpec,
)
from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.reference_loader import References
from valora_drift_monitor.domain.alert_plan import Evaluation, Plan, RetrainPolicy, plan
from valora_drift_monitor.domain.alerting import AlertPolicy, ConditionState
from valora_drift_monitor.domain.error_estimate import PredictedRow
from valora_drift_monitor.domain.events import ListingEvent, PredictionEvent
from valora_drift_monitor.domain.ports import (
    LabelRow,
    OutboxEntry,
    PredictionRow,
    SegmentPerformance,
    WindowRecord,
)
from valora_drift_monitor.domain.reference import Reference
from valora_drift_monitor.domain.windows import StreamWindows
from valora_drift_monitor.entrypoints.batch_output import BatchOutput
from valora_drift_monitor.entrypoints.decoding import parse_listing, parse_prediction, parse_sale
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
from valora_drift_monitor.entrypoints.upkeep import Upkeep
from valora_drift_monitor.errors import InvalidEventError
from valora_drift_monitor.settings import DriftSettings
from valora_messaging import FailedRecord, InRecord, OutgoingRecord
from valora_ml.profile import build_reference_profile
from valora_ml.synthetic import DriftSpec, generate_listings
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeAlerts:
    """:class:`~valora_drift_monitor.domain.ports.AlertStore` in memory (the real planner)."""

    def __init__(self) -> None:
        self.states: dict[str, ConditionState] = {}
        self.windows: list[WindowRecord] = []
        self.published: list[str] = []
        self.outbox: list[OutboxEntry] = []

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

    async def pending(self, *, older_than: datetime, limit: int) -> list[OutboxEntry]:
        return [e for e in self.outbox if e.event_id not in self.published][:limit]

    async def firing(self, model_name: str) -> list[tuple[str, str, str, str]]:
        return []


class FakeOutcomes:
    """:class:`~valora_drift_monitor.domain.ports.OutcomeStore` in memory."""

    def __init__(self) -> None:
        self.predictions: dict[str, PredictionRow] = {}
        self.prediction_rows: list[PredictionRow] = []
        self.listing_labels: list[LabelRow] = []
        self.pairs: list[tuple[PredictionRow, float]] = []

    async def add_predictions(self, rows: Sequence[PredictionRow]) -> set[str]:
        self.prediction_rows += rows
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
        self.listing_labels += rows
        return set()

    async def performance(
        self, *, model_name: str, model_version: str, size: int, since: datetime, segments: bool
    ) -> list[SegmentPerformance]:
        errors = [abs(p.predicted_price - y) for p, y in self.pairs]
        pct = [abs(p.predicted_price - y) / y for p, y in self.pairs]
        n = len(errors)
        return [SegmentPerformance("1", "all", n, sum(errors) / n, sum(pct) / n, T0, T0)]

    async def prune(self, *, before: datetime) -> int:
        return 0


class FakeSink:
    """:class:`~valora_messaging.BatchSink` in memory; ``fail_next`` makes one write fail."""

    def __init__(self) -> None:
        self.outputs: list[OutgoingRecord] = []
        self.failed: list[FailedRecord] = []
        self.fail_next = False

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unavailable")
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


FEATURES = ("area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood")


def listing_record(i: int, row: Mapping[Any, Any], at: datetime) -> InRecord:
    body = {
        "event_id": f"e{i}",
        "listing_id": f"l{i}",
        "occurred_at": at.isoformat(),
        "price": row["price"],
        "features": {k: row[k] for k in FEATURES},
    }
    return InRecord(orjson.dumps(body), None, LISTINGS_VALIDATED.name, 0, i)


def prediction_record(
    i: int,
    price: float,
    neighbourhood: str,
    at: datetime,
    expected: float | None = None,
    asking: Any = None,
) -> InRecord:
    result = {"listing_id": f"p{i}", "price": price, "model_name": "m", "model_version": "1"}
    if expected is not None:
        result["expected_abs_error"] = expected
    body = {
        "event_id": f"p{i}",
        "occurred_at": at.isoformat(),
        "features": {"neighbourhood": neighbourhood},
        "result": result,
    }
    if asking is not None:
        body["asking_price"] = asking
    return InRecord(orjson.dumps(body), None, PREDICTIONS_MADE.name, 0, i)


class Rig:
    """The handlers as bootstrap wires them, over in-memory stores and sink."""

    def __init__(self, reference: Reference, **overrides: Any) -> None:
        s = self.settings = DriftSettings(
            drift_window_size=500, drift_auto_retrain=True, **overrides
        )
        self.metrics = DriftMetrics(
            metrics=ServiceMetrics("drift-test"),
            model_name="m",
            estimated_error_factor=s.drift_estimated_error_factor,
        )
        self.alerts = FakeAlerts()
        self.outcomes = FakeOutcomes()
        self.sink = FakeSink()
        self.references = References(source=FakeSource(reference), model_name="m")
        self.references.champion = reference
        thresholds = s.thresholds()
        judged: dict[str, Any] = {
            "references": self.references,
            "metrics": self.metrics,
            "thresholds": thresholds,
        }
        self.performance = PerformanceJudge(
            outcomes=self.outcomes, size=500, span_s=86400.0, segments=False, **judged
        )
        self.listing_windows: StreamWindows[Any] = StreamWindows(
            s.data_window_policy(), remember=s.drift_dedupe_ids
        )
        self.prediction_windows: StreamWindows[PredictedRow] = StreamWindows(
            s.prediction_window_policy(), remember=s.drift_dedupe_ids
        )
        self.listings: TopicHandler[ListingEvent] = self.handler(
            LISTINGS_VALIDATED,
            parse_listing,
            ListingsStep(
                model_name="m",
                windows=self.listing_windows,
                judge=DataDriftJudge(alerts=self.alerts, correction="holm", replica="r", **judged),
                outcomes=self.outcomes,
                metrics=self.metrics,
                listing_labels=True,
            ),
        )
        self.predictions: TopicHandler[PredictionEvent] = self.handler(
            PREDICTIONS_MADE,
            parse_prediction,
            PredictionsStep(
                model_name="m",
                windows=self.prediction_windows,
                judge=PredictionDriftJudge(
                    alerts=self.alerts,
                    replica="r",
                    min_priced=s.drift_estimate_min_priced,
                    **judged,
                ),
                outcomes=self.outcomes,
                metrics=self.metrics,
            ),
        )
        self.sales: TopicHandler[SaleObserved] = self.handler(
            SALES_OBSERVED,
            parse_sale,
            SalesStep(model_name="m", outcomes=self.outcomes, metrics=self.metrics),
        )

    def handler(self, topic: TopicSpec, parse: Any, step: Any) -> Any:
        output = BatchOutput(
            store=self.alerts,
            sink=self.sink,
            metrics=self.metrics,
            policy=AlertPolicy(cooldown_s=3600, resolve_after=1),
            retrain=RetrainPolicy(enabled=True, cooldown_s=3600),
        )
        return TopicHandler(
            topic=topic,
            parse=parse,
            event_name=topic.name,
            step=step,
            performance=self.performance,
            output=output,
        )

    def topics(self) -> list[str]:
        return [r.topic for r in self.sink.outputs]

    def alert_bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.sink.outputs if r.topic == "drift.alerts.v1"]

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.base.registry.get_sample_value(
            name, {"service": "drift-test", **labels}
        )

    def judged(self, kind: str) -> list[tuple[int, datetime, datetime]]:
        return [(w.size, w.start, w.end) for w in self.alerts.windows if w.kind == kind]


def listings(n: int, seed: int, drift: DriftSpec | None = None) -> list[InRecord]:
    rows = generate_listings(n, seed=seed, drift=drift).to_dict("records")
    return [listing_record(i, r, T0 + timedelta(seconds=i)) for i, r in enumerate(rows)]


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
    bad = InRecord(b"{not json", b"k", LISTINGS_VALIDATED.name, 0, 9999)
    await rig.listings.handle_batch([*records[:1000], bad])
    assert rig.alert_bodies() == []
    assert [f.offset for f in rig.sink.failed] == [9999]
    assert len(rig.judged("data")) == 2
    await rig.listings.handle_batch(records[1000:])
    alerts = rig.alert_bodies()
    assert [(a["feature"], a["severity"], a["state"]) for a in alerts] == [
        ("area", "critical", "firing")
    ]
    assert rig.topics().count("training.requests.v1") == 1
    assert len(rig.alerts.published) == 2
    text = generate_latest(rig.metrics.base.registry).decode()
    assert 'valora_drift_alert_firing{feature="area"' in text
    labels = {"model_name": "m", "kind": "data", "feature": "area"}
    psi = rig.sample("valora_drift_psi", **labels)
    assert psi is not None
    assert psi > 0.25


async def test_without_a_champion_windows_are_counted_not_judged(reference: Reference) -> None:
    rig = Rig(reference)
    rig.references.champion = None
    await rig.listings.handle_batch(listings(1000, seed=12, drift=DriftSpec(shift={"area": 2.0})))
    assert rig.alert_bodies() == []
    assert rig.judged("data") == []
    assert rig.sample("valora_drift_unreferenced_total", kind="data") == 2.0


async def test_a_redelivered_listing_is_counted_once(reference: Reference) -> None:
    """A rebalance replays a batch: the window closes on the 500th *distinct* listing."""
    rig = Rig(reference)
    records = listings(500, seed=20)
    await rig.listings.handle_batch(records[:250])
    await rig.listings.handle_batch(records[:250])  # the same records again
    assert rig.judged("data") == []  # 250 distinct listings: no window yet
    await rig.listings.handle_batch(records[250:])
    assert rig.judged("data") == [(500, T0, T0 + timedelta(seconds=499))]
    assert len(rig.listing_windows.open[""]) == 0
    assert rig.sample("valora_drift_events_total", event="listing_duplicate") == 250.0
    assert [r.listing_id for r in rig.outcomes.listing_labels] == [f"l{i}" for i in range(500)]


async def test_a_listing_twice_in_one_batch_is_counted_once(reference: Reference) -> None:
    """An aborted transaction's record and its committed retry, read in one poll."""
    rig = Rig(reference)
    records = listings(500, seed=21)
    twice = [r for record in records for r in (record, record)]
    await rig.listings.handle_batch(twice)
    assert rig.judged("data") == [(500, T0, T0 + timedelta(seconds=499))]
    assert len(rig.outcomes.listing_labels) == 500


async def test_a_batch_redelivered_after_a_failed_write_counts_its_listings_once(
    reference: Reference,
) -> None:
    """The windows moved, then publishing failed: the redelivered batch must not move them."""
    rig = Rig(reference)
    records = listings(400, seed=22)
    rig.sink.fail_next = True
    with pytest.raises(ConnectionError):
        await rig.listings.handle_batch(records[:300])
    await rig.listings.handle_batch(records[:300])  # redelivered (offsets were not committed)
    await rig.listings.handle_batch([*records[300:], *listings(500, seed=23)[400:]])
    assert rig.judged("data") == [(500, T0, T0 + timedelta(seconds=499))]


async def test_a_prediction_published_twice_is_counted_once(reference: Reference) -> None:
    """The predictor re-publishes a redelivered listing's stored prediction: same event id
    (its prediction id), a later ``occurred_at``."""
    rig = Rig(reference, drift_prediction_window_size=500)
    frame = generate_listings(500, seed=24)
    made = [
        prediction_record(i, float(row["price"]), row["neighbourhood"], T0 + timedelta(seconds=i))
        for i, row in enumerate(frame.to_dict("records"))
    ]
    again = [
        prediction_record(i, float(row["price"]), row["neighbourhood"], T0 + timedelta(hours=1))
        for i, row in enumerate(frame.to_dict("records")[:200])
    ]
    await rig.predictions.handle_batch(made[:300])
    await rig.predictions.handle_batch(again)
    assert rig.judged("prediction") == []
    await rig.predictions.handle_batch(made[300:])
    assert rig.judged("prediction") == [(500, T0, T0 + timedelta(seconds=499))]
    assert len(rig.outcomes.prediction_rows) == 500
    assert rig.sample("valora_drift_events_total", event="prediction_duplicate") == 200.0


async def test_a_prediction_window_sets_the_estimated_error_gauges(reference: Reference) -> None:
    """The window's mean estimated absolute error (predictions without one left out), and that
    mean over the version's test MAE (20,000); the alert factor from the settings."""
    rig = Rig(reference, drift_prediction_window_size=100, drift_estimated_error_factor=1.4)
    labels = {"model_name": "m", "model_version": "1"}
    estimates = [None if i % 10 == 0 else (30_000.0 if i % 2 else 20_000.0) for i in range(100)]
    made = [
        prediction_record(i, 400_000.0, "Centro", T0 + timedelta(seconds=i), expected=e)
        for i, e in enumerate(estimates)
    ]
    await rig.predictions.handle_batch(made[:99])
    assert rig.sample("valora_estimated_abs_error", **labels) is None  # window still open
    await rig.predictions.handle_batch(made[99:])
    assert rig.judged("prediction") == [(100, T0, T0 + timedelta(seconds=99))]
    mean = (50 * 30_000.0 + 40 * 20_000.0) / 90  # 10 of the 50 even rows carry no estimate
    assert rig.sample("valora_estimated_abs_error", **labels) == pytest.approx(mean)
    assert rig.sample("valora_estimated_abs_error_ratio", **labels) == pytest.approx(mean / 20e3)
    assert rig.sample("valora_estimated_abs_error_alert_factor", model_name="m") == 1.4
    assert rig.sample("valora_estimated_abs_error_inputs_only", **labels) == pytest.approx(mean)
    assert math.isnan(rig.sample("valora_estimated_market_level", **labels) or 0.0)  # no asking
    bad = prediction_record(500, 1.0, "Centro", T0, expected=-5.0)  # fast path refuses, and
    await rig.predictions.handle_batch([bad])  # the contract (ge=0) too: a dead letter
    assert [f.offset for f in rig.sink.failed] == [500]


async def test_asking_prices_put_the_estimate_at_the_markets_level(reference: Reference) -> None:
    """Every price 20 % above the model (``inflate=1.2``): the inputs' estimate cannot move, the
    window's asking prices show the level, and the estimate is taken at it. Requests (no asking
    price) are estimated at the same level; a window priced too thinly keeps the inputs' alone;
    a non-positive asking price is a dead letter, never a level."""
    rig = Rig(reference, drift_prediction_window_size=100, drift_estimate_min_priced=30)
    labels = {"model_name": "m", "model_version": "1"}
    made = [
        prediction_record(
            i, 400_000.0, "Centro", T0 + timedelta(seconds=i), expected=20_000.0,
            asking=480_000.0 if i % 2 else None,
        )
        for i in range(100)
    ]  # fmt: skip
    await rig.predictions.handle_batch(made)
    level = rig.sample("valora_estimated_market_level", **labels)
    estimate = rig.sample("valora_estimated_abs_error", **labels)
    assert level == pytest.approx(1.2)
    assert rig.sample("valora_estimated_abs_error_inputs_only", **labels) == 20_000.0
    assert estimate is not None
    assert 80_000.0 < estimate < 85_000.0  # a bias of 80,000 and a spread of 24,000
    thin = [
        prediction_record(
            200 + i, 400_000.0, "Centro", T0 + timedelta(seconds=200 + i), expected=20_000.0,
            asking=480_000.0 if i < 29 else None,
        )
        for i in range(100)
    ]  # fmt: skip
    await rig.predictions.handle_batch(thin)
    assert rig.sample("valora_estimated_abs_error", **labels) == pytest.approx(20_000.0)
    assert math.isnan(rig.sample("valora_estimated_market_level", **labels) or 0.0)  # not 1.2
    counted = rig.sample("valora_drift_events_total", event="prediction")
    for i, bad in enumerate((0.0, -1.0, "480000")):
        record = prediction_record(900 + i, 1.0, "Centro", T0, expected=5.0, asking=bad)
        behind = prediction_record(950 + i, 1.0, "Centro", T0, expected=5.0, asking=2.0)
        await rig.predictions.handle_batch([record, behind])  # the one behind gets through
    assert [f.offset for f in rig.sink.failed] == [900, 901, 902]
    assert rig.sample("valora_drift_events_total", event="prediction") == (counted or 0.0) + 3


async def test_predictions_and_inflated_sales_fire_a_performance_alert(
    reference: Reference,
) -> None:
    rig = Rig(reference, drift_performance_min_size=50)
    frame = generate_listings(100, seed=13)
    made = [
        prediction_record(i, float(row["price"]), row["neighbourhood"], T0)
        for i, row in enumerate(frame.to_dict("records"))
    ]
    await rig.predictions.handle_batch(made)
    sold = [
        InRecord(
            SaleObserved(listing_id=f"p{i}", sale_price=price * 1.2, sold_at=T0 + timedelta(days=1))
            .model_dump_json()
            .encode(),
            None,
            SALES_OBSERVED.name,
            0,
            i,
        )
        for i, price in enumerate(frame["price"])
    ]
    await rig.sales.handle_batch(sold)
    perf = [a for a in rig.alert_bodies() if a["kind"] == "performance"]
    assert len(perf) == 1
    assert perf[0]["statistic"] == "mape"
    assert perf[0]["value"] == pytest.approx(1 / 6, rel=1e-6)  # |p - 1.2p| / 1.2p
    assert perf[0]["threshold"] == pytest.approx(0.05 * 2.0)  # test MAPE x critical ratio


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
    with pytest.raises(InvalidEventError):  # dead-lettered by the consumers' error policy
        await handler.handle(b"garbage")
    assert rig.references.champion is None
    await handler.handle(event.model_dump_json().encode())
    assert rig.references.champion is not None
    assert rig.references.champion.test_mape == 0.07
    assert rig.sample("valora_drift_reference_version", model_name="m") == 1.0


def test_parse_listing_fast_path_and_contract_fallback() -> None:
    body: dict[str, Any] = {
        "event_id": "abc",
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
    assert view.event_id == "abc"
    body["features"] = {**body["features"], "area": -1}
    with pytest.raises(ValueError, match="area"):
        parse_listing(orjson.dumps(body))


class FakePublisher:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def publish(self, records: Sequence[OutgoingRecord]) -> int:
        self.records += records
        return len(records)


async def test_the_outbox_sweeper_resends_unacknowledged_events_once(
    reference: Reference,
) -> None:
    rig = Rig(reference)
    rig.alerts.outbox = [
        OutboxEntry("a1", "drift.alerts.v1", b"m/data/area/psi", b"{}"),
        OutboxEntry("r1", "training.requests.v1", b"m", b"{}"),
    ]
    rig.alerts.published = ["a1"]  # acknowledged before the crash
    publisher = FakePublisher()
    upkeep = Upkeep(
        references=rig.references,
        alerts=rig.alerts,
        outcomes=rig.outcomes,
        publisher=publisher,
        metrics=rig.metrics,
        settings=rig.settings,
        clock=lambda: T0,
    )
    await upkeep.sweep_outbox()
    await upkeep.sweep_outbox()
    assert publisher.records == [OutgoingRecord("training.requests.v1", b"{}", b"m")]
    assert rig.alerts.published == ["a1", "r1"]
