"""Predictor handlers, valuation and hot swap with fakes (no Kafka, PostgreSQL or MLflow)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from valora_contracts import (
    ListingFeatures,
    ModelMetrics,
    ModelPromoted,
    PredictionInput,
    PredictionMade,
    PredictionReply,
    PredictionRequested,
    ValidatedListing,
    utcnow,
)
from valora_messaging import FailedRecord, InRecord, OutgoingRecord
from valora_observability import ServiceMetrics
from valora_predictor.adapters.output import PredictorMetrics
from valora_predictor.domain.holder import ModelHolder
from valora_predictor.domain.model import FeatureColumns, ModelOutput, ModelRef
from valora_predictor.domain.predictions import PredictionRow, RowKey
from valora_predictor.domain.valuation import Valuer, input_hash
from valora_predictor.entrypoints.handlers import (
    RequestHandler,
    StreamHandler,
    stream_input_id,
)
from valora_predictor.entrypoints.models import PromotionHandler
from valora_predictor.errors import InvalidRecordError, NoChampionError

pytestmark = pytest.mark.unit

FEATURES = ListingFeatures.model_validate(
    {"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1, "bairro": "Zona Sul"}
)


class FakeModel:
    """Prices 1,000 per m²; warns (as a model's training ranges would) for an area over 1,000."""

    def __init__(self, version: str, *, offset: float = 0.0) -> None:
        self._ref = ModelRef(name="m", version=version, run_id=f"run-{version}")
        self.offset = offset
        self.calls: list[int] = []
        self.columns: list[dict[str, Any]] = []
        self.bounds_only: list[bool] = []

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def level(self) -> float:
        return 0.9

    @property
    def known_neighbourhoods(self) -> frozenset[str]:
        return frozenset({"Zona Sul", "Centro"})

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        self.calls.append(len(columns["area"]))
        self.columns.append(dict(columns))
        self.bounds_only.append(bounds_only)
        area = np.asarray(columns["area"], dtype=float)
        price = area * 1000.0 + self.offset
        warnings = [(f"area {a:g} is outside [1, 1000]",) if a > 1000 else () for a in area]
        return ModelOutput(price=price, lower=price - 10.0, upper=price + 10.0, warnings=warnings)


@dataclass
class FakeLoader:
    models: dict[str, FakeModel]
    champion: str | None
    gate: threading.Event | None = None
    challenger: str | None = None

    def resolve_alias(self, name: str, alias: str) -> ModelRef | None:
        version = self.champion if alias == "champion" else self.challenger
        if version is None:
            return None
        return self.models[version].ref

    def load(self, ref: ModelRef, *, expected_sha256: str | None = None) -> FakeModel:
        if self.gate is not None:
            assert self.gate.wait(5)
        return self.models[ref.version]


@dataclass
class FakeStore:
    rows: dict[RowKey, PredictionRow] = field(default_factory=dict)
    saves: int = 0

    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        self.saves += 1
        for row in rows:
            self.rows.setdefault(row.key, row)
        return {row.key: self.rows[row.key] for row in rows}


@dataclass
class FakeOutput:
    published: list[OutgoingRecord] = field(default_factory=list)
    dead: list[FailedRecord] = field(default_factory=list)
    topics: set[str] = field(default_factory=lambda: {"predictions.replies.gw-1.v1"})

    async def existing_topics(self, names: set[str]) -> set[str]:
        return names & self.topics

    # a BatchSink too: the stream writes its events and dead letters with its offsets
    offsets: list[dict[tuple[str, int], int]] = field(default_factory=list)
    healthy: bool = True

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Any,
    ) -> None:
        self.published.extend(outputs)
        self.dead.extend(failed)
        self.offsets.append(dict(offsets))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        self.published.extend(records)

    async def reply(self, records: Sequence[OutgoingRecord]) -> None:
        self.published.extend(records)

    async def dead_letter(self, *, source: Any, records: Sequence[FailedRecord]) -> None:
        self.dead.extend(records)

    def replies(self) -> list[PredictionReply]:
        return [
            PredictionReply.model_validate_json(r.value)
            for r in self.published
            if r.topic.startswith("predictions.replies.")
        ]

    def made(self) -> list[PredictionMade]:
        return [
            PredictionMade.model_validate_json(r.value)
            for r in self.published
            if r.topic == "predictions.made.v1"
        ]


def _record(value: bytes, offset: int = 0, topic: str = "t") -> InRecord:
    return InRecord(value=value, key=None, topic=topic, partition=0, offset=offset)


def _request(*features: ListingFeatures, reply_to: str = "predictions.replies.gw-1.v1") -> bytes:
    event = PredictionRequested(
        reply_to=reply_to, items=[PredictionInput(features=f) for f in features]
    )
    return event.model_dump_json().encode()


async def _holder(loader: FakeLoader) -> ModelHolder:
    holder = ModelHolder(loader=loader, model_name="m")
    await holder.refresh()
    return holder


def _metrics() -> PredictorMetrics:
    return PredictorMetrics(metrics=ServiceMetrics("predictor"))


async def test_requests_are_valued_in_one_call_and_answered_each() -> None:
    model = FakeModel("1")
    holder = await _holder(FakeLoader({"1": model}, champion="1"))
    store, output = FakeStore(), FakeOutput()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=store), output=output, metrics=_metrics()
    )
    unknown = FEATURES.model_copy(update={"neighbourhood": "Atlantis"})
    records = [_record(_request(FEATURES, unknown), 0), _record(_request(FEATURES), 1)]

    outcome = await handler.handle_batch(records)

    assert outcome.predictions == 3
    assert model.calls[-1] == 3  # one vectorised call for the whole batch
    replies = output.replies()
    assert [len(r.results) for r in replies] == [2, 1]
    first = replies[0].results[0]
    assert first.price == pytest.approx(120_500.0)
    assert first.interval.lower_bound == pytest.approx(120_490.0)
    assert first.model_version == "1"
    assert replies[0].results[1].warnings  # unknown neighbourhood: still valued, flagged
    assert "Atlantis" in replies[0].results[1].warnings[0]
    assert len(output.made()) == 3
    assert len(store.rows) == 3
    assert "listed_at" not in model.columns[-1]  # requests are valued now


async def test_range_warnings_of_the_model_reach_the_answer_after_the_neighbourhood_one() -> None:
    model = FakeModel("1")
    holder = await _holder(FakeLoader({"1": model}, champion="1"))
    output = FakeOutput()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=_metrics()
    )
    huge = FEATURES.model_copy(update={"area": 5000.0, "neighbourhood": "Atlantis"})
    await handler.handle_batch([_record(_request(FEATURES, huge))])
    ordinary, flagged = output.replies()[0].results
    assert ordinary.warnings == []
    assert len(flagged.warnings) == 2
    assert "Atlantis" in flagged.warnings[0]
    assert flagged.warnings[1] == "area 5000 is outside [1, 1000]"


async def test_redelivered_request_returns_the_stored_prediction() -> None:
    holder = await _holder(FakeLoader({"1": FakeModel("1"), "2": FakeModel("2")}, champion="1"))
    store, output, metrics = FakeStore(), FakeOutput(), _metrics()
    handler = RequestHandler(valuer=Valuer(holder=holder, store=store), output=output,
                             metrics=metrics)  # fmt: skip
    raw = _request(FEATURES)
    await handler.handle_batch([_record(raw)])
    holder.install(FakeModel("2"))  # a swap between the delivery and the redelivery
    await handler.handle_batch([_record(raw)])

    first, second = output.replies()
    assert second.results[0].prediction_id == first.results[0].prediction_id
    assert second.results[0].model_version == "1"  # what is on record
    assert len(store.rows) == 1
    assert _answered(metrics, version="1") == 2.0  # answered twice, both times by version 1
    assert _answered(metrics, version="2") is None


async def test_no_champion_answers_every_request_with_an_error() -> None:
    holder = await _holder(FakeLoader({}, champion=None))
    output = FakeOutput()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=_metrics()
    )
    await handler.handle_batch([_record(_request(FEATURES)), _record(_request(FEATURES), 1)])
    replies = output.replies()
    assert len(replies) == 2
    assert all(r.error and r.error.startswith("no champion") for r in replies)
    assert {r.error_code for r in replies} == {"no_champion"}
    assert not output.made()


class BrokenModel(FakeModel):
    """Loads and warms up, then raises on every call once ``broken``."""

    broken = False

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        if self.broken:
            raise ValueError("the model cannot value this")
        return super().predict(columns)


async def test_a_model_error_answers_with_its_code_and_stores_nothing() -> None:
    model = BrokenModel("1")
    holder = await _holder(FakeLoader({"1": model}, champion="1"))
    model.broken = True
    output, store = FakeOutput(), FakeStore()
    handler = RequestHandler(valuer=Valuer(holder=holder, store=store), output=output,
                             metrics=_metrics())  # fmt: skip
    outcome = await handler.handle_batch([_record(_request(FEATURES))])
    (reply,) = output.replies()
    assert reply.error_code == "prediction_failed"
    assert reply.error is not None
    assert "cannot value this" in reply.error
    assert outcome.errors == 1
    assert not store.rows
    assert not output.made()


async def test_undecodable_request_is_dead_lettered() -> None:
    holder = await _holder(FakeLoader({"1": FakeModel("1")}, champion="1"))
    output = FakeOutput()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=_metrics()
    )
    outcome = await handler.handle_batch([_record(b"{not json"), _record(_request(FEATURES), 1)])
    assert outcome.dead_lettered == 1
    assert len(output.dead) == 1
    assert len(output.replies()) == 1


async def test_a_request_naming_a_missing_reply_topic_is_dead_lettered_not_answered() -> None:
    from valora_predictor.errors import UnknownReplyTopicError

    holder = await _holder(FakeLoader({"1": FakeModel("1")}, champion="1"))
    output = FakeOutput()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=_metrics()
    )
    missing = _request(FEATURES, reply_to="predictions.replies.nobody.v1")
    outcome = await handler.handle_batch([_record(missing), _record(_request(FEATURES), 1)])
    assert (outcome.requests, outcome.dead_lettered) == (1, 1)
    assert [type(f.error) for f in output.dead] == [UnknownReplyTopicError]
    assert len(output.replies()) == 1


def _listing(listing_id: str, listed_at: Any = None, price: float | None = None) -> bytes:
    listing = ValidatedListing(
        listing_id=listing_id,
        source="unit",
        ingested_at=utcnow(),
        listed_at=listed_at,
        price=price,
        features=FEATURES,
        content_hash=hashlib.blake2b(listing_id.encode(), digest_size=16).hexdigest(),
        contract_version="1",
    )
    return listing.model_dump_json().encode()


async def test_stream_values_listings_idempotently() -> None:
    holder = await _holder(FakeLoader({"1": FakeModel("1")}, champion="1"))
    store, output = FakeStore(), FakeOutput()
    handler_metrics = _metrics()
    handler = StreamHandler(
        valuer=Valuer(holder=holder, store=store),
        sink=output,
        metrics=handler_metrics,
    )
    records = [_record(_listing(f"L{i}"), i) for i in range(5)]
    assert await handler.handle_batch(records) == 5
    assert await handler.handle_batch(records) == 5  # redelivery
    assert len(store.rows) == 5
    assert _answered(handler_metrics, version="1", source="stream") == 10.0
    assert {r.source for r in store.rows.values()} == {"stream"}
    made = output.made()
    assert {m.event_id for m in made[:5]} == {m.event_id for m in made[5:]}  # same events again


async def test_a_streamed_listings_asking_price_goes_out_with_its_prediction() -> None:
    """The drift monitor reads the market's level from them (also on a redelivery, whose row
    comes back from the store); a listing without a price, and a request, carry none."""
    holder = await _holder(FakeLoader({"1": FakeModel("1")}, champion="1"))
    output = FakeOutput()
    handler = StreamHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), sink=output, metrics=_metrics()
    )
    records = [_record(_listing("A", price=480_000.0)), _record(_listing("B"), 1)]
    await handler.handle_batch(records)
    await handler.handle_batch(records)  # redelivery
    made = output.made()
    assert [(m.result.listing_id, m.asking_price) for m in made] == [
        ("A", 480_000.0), ("B", None), ("A", 480_000.0), ("B", None)
    ]  # fmt: skip
    requests = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=_metrics()
    )
    await requests.handle_batch([_record(_request(FEATURES), 5)])
    assert output.made()[-1].asking_price is None


async def test_stream_listings_are_valued_at_their_listing_date() -> None:
    model = FakeModel("1")
    holder = await _holder(FakeLoader({"1": model}, champion="1"))
    handler = StreamHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), sink=FakeOutput(), metrics=_metrics()
    )
    listed = datetime(2024, 5, 1, tzinfo=UTC)
    await handler.handle_batch([_record(_listing("A", listed)), _record(_listing("B"), 1)])
    assert model.columns[-1]["listed_at"] == [listed, None]  # undated: valued now


async def test_stream_without_champion_is_nacked_not_lost() -> None:
    holder = await _holder(FakeLoader({}, champion=None))
    store = FakeStore()
    handler = StreamHandler(
        valuer=Valuer(holder=holder, store=store),
        sink=FakeOutput(),
        metrics=_metrics(),
    )
    with pytest.raises(NoChampionError):
        await handler.handle_batch([_record(_listing("L1"))])
    assert not store.rows


def test_stream_input_id_is_bounded() -> None:
    listing = ValidatedListing.model_validate_json(_listing("x" * 200))
    assert len(stream_input_id(listing)) <= 255


async def test_promotion_swaps_in_background_while_requests_keep_being_served() -> None:
    gate = threading.Event()
    models = {"1": FakeModel("1"), "2": FakeModel("2", offset=1.0)}
    loader = FakeLoader(models, champion="1")
    holder = await _holder(loader)
    loader.champion, loader.gate = "2", gate
    output, metrics = FakeOutput(), _metrics()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=FakeStore()), output=output, metrics=metrics
    )
    promoted = ModelPromoted(
        model_name="m",
        model_version="2",
        run_id="run-2",
        metrics=ModelMetrics(
            rmse=1, mae=1, mape=0.1, r2=0.9, interval_coverage=0.9, n_train=1, n_test=1
        ),
    )
    assert await PromotionHandler(holder=holder).handle(promoted.model_dump_json().encode())
    # the new version is still loading: requests are answered by the old one, without waiting
    await asyncio.wait_for(handler.handle_batch([_record(_request(FEATURES))]), 1.0)
    assert output.replies()[-1].results[0].model_version == "1"
    gate.set()
    await holder.wait_idle()
    await handler.handle_batch([_record(_request(FEATURES), 1)])
    assert output.replies()[-1].results[0].model_version == "2"
    assert [_answered(metrics, version=v) for v in ("1", "2")] == [1.0, 1.0]


def _answered(metrics: PredictorMetrics, *, version: str, source: str = "sync") -> float | None:
    """``valora_predictions_total`` of one model version."""
    labels = {"service": "predictor", "source": source, "model_name": "m", "model_version": version}
    return metrics.base.registry.get_sample_value("valora_predictions_total", labels)


async def test_promotion_of_another_model_is_ignored() -> None:
    holder = await _holder(FakeLoader({"1": FakeModel("1")}, champion="1"))
    event = {
        "model_name": "other",
        "model_version": "9",
        "run_id": "r",
        "metrics": {
            "rmse": 1, "mae": 1, "mape": 0.1, "r2": 0.9, "interval_coverage": 0.9,
            "n_train": 1, "n_test": 1,
        },
    }  # fmt: skip
    assert not await PromotionHandler(holder=holder).handle(orjson.dumps(event))
    with pytest.raises(InvalidRecordError):  # dead-lettered by the error policy
        await PromotionHandler(holder=holder).handle(b"garbage")


def test_input_hash_is_stable_and_order_independent() -> None:
    a = {"area": 1.0, "bedrooms": 2}
    assert input_hash(a) == input_hash({"bedrooms": 2, "area": 1.0})
    assert input_hash(a) != input_hash({"area": 1.5, "bedrooms": 2})


def test_pyfunc_handle_uses_the_price_model_and_its_interval() -> None:
    from sklearn.linear_model import LinearRegression
    from valora_ml.features import build_feature_pipeline
    from valora_ml.pricemodel import PriceModel
    from valora_ml.synthetic import generate_listings
    from valora_predictor.domain.model import PyfuncModelHandle, _known_neighbourhoods

    frame = generate_listings(200, seed=3)
    pipeline = build_feature_pipeline(LinearRegression()).fit(frame, frame["price"])
    price_model = PriceModel(pipeline, half_width=1000.0, level=0.9, model_family="lr")

    class Pyfunc:
        def unwrap_python_model(self) -> PriceModel:
            return price_model

    handle = PyfuncModelHandle(
        ref=ModelRef("m", "1", "r"),
        pyfunc=Pyfunc(),
        half_width=1000.0,
        level=0.9,
        known_neighbourhoods=_known_neighbourhoods(price_model),
    )
    out = handle.predict(frame.head(3))
    assert np.allclose(out.upper - out.lower, 2000.0)
    assert np.allclose(out.price, pipeline.predict(frame.head(3)))
    assert price_model.compile()  # as on load: the compiled path gives the same prices
    columns = {c: frame[c].head(3).tolist() for c in frame.columns}
    assert np.allclose(handle.predict(columns).price, out.price, rtol=1e-12)
    assert handle.known_neighbourhoods is not None
    assert "Zona Sul" in handle.known_neighbourhoods


def test_pyfunc_handle_values_with_the_adaptive_interval_and_range_warnings() -> None:
    """A model as the trainer builds it: each house its own interval (from the compiled path),
    and a warning per feature outside the training range, naming the range."""
    from valora_ml.features import build_feature_pipeline
    from valora_ml.fitting import IntervalSettings, fit_gate_model
    from valora_ml.synthetic import generate_listings
    from valora_predictor.domain.model import PyfuncModelHandle

    frame = generate_listings(300, seed=4)
    frame.insert(0, "listing_id", [f"p{i}" for i in range(300)])
    gate = fit_gate_model(
        candidates={"hgb": lambda: build_feature_pipeline(HistGradientBoostingRegressor())},
        fit_rows=frame,
        label="price",
        settings=IntervalSettings(folds=3),
        model_family="hgb",
    )

    class Pyfunc:
        def unwrap_python_model(self) -> Any:
            return gate.model

    handle = PyfuncModelHandle(
        ref=ModelRef("m", "1", "r"), pyfunc=Pyfunc(), half_width=0.0, level=0.9,
        known_neighbourhoods=None,
    )  # fmt: skip
    houses = frame.head(20).copy()
    houses.loc[houses.index[0], "area"] = 5_000.0
    out = handle.predict({c: houses[c].tolist() for c in houses.columns})
    widths = out.upper - out.lower
    assert widths.std() > 0  # not one width for every house
    assert ((out.lower <= out.price) & (out.price <= out.upper)).all()
    top = frame["area"].max()
    assert out.warnings[0] == (
        f"area 5000 is outside the training range [{frame['area'].min():g}, {top:g}]: the model "
        "has seen no such house, so the valuation is an extrapolation",
    )
    assert all(w == () for w in out.warnings[1:])


async def test_subscribers_hand_requests_one_record_and_listings_in_batches() -> None:
    from faststream.kafka import TestKafkaBroker
    from valora_contracts import LISTINGS_VALIDATED, PREDICTIONS_REQUESTS
    from valora_messaging import ConsumerRuntime
    from valora_predictor.entrypoints.subscribers import register_subscribers
    from valora_predictor.settings import PredictorSettings

    calls: dict[str, list[list[InRecord]]] = {"requests": [], "stream": []}

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        async def handle_batch(self, records: list[InRecord]) -> None:
            calls[self.name].append(records)

        async def handle(self, value: bytes) -> bool:
            return False

    # the in-memory broker assigns no partitions, so the stream runs at-least-once here
    settings = PredictorSettings(
        predictor_request_consumers=2,
        predictor_stream_consumers=1,
        predictor_stream_exactly_once=False,
    )
    runtime = ConsumerRuntime.create(settings=settings, client_id="predictor")
    broker = runtime.broker
    register_subscribers(
        runtime,
        settings=settings,
        requests=Recorder("requests"),  # type: ignore[arg-type]
        stream=lambda sink: Recorder("stream"),
        promotions=Recorder("promotions"),  # type: ignore[arg-type]
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"request": 1}', PREDICTIONS_REQUESTS.name, key=b"c1")
        await test_broker.publish(b'{"listing": 1}', LISTINGS_VALIDATED.name, key=b"l1")
    # the in-memory broker hands a record to every subscriber of the topic; each call is one
    # record (a request record already carries a micro-batch), as plain InRecords
    assert calls["requests"]
    assert all(len(c) == 1 for c in calls["requests"])
    record = calls["requests"][0][0]
    assert (record.value, record.key, record.topic) == (
        b'{"request": 1}',
        b"c1",
        PREDICTIONS_REQUESTS.name,
    )
    assert [r.value for c in calls["stream"] for r in c] == [b'{"listing": 1}']
