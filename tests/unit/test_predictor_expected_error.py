"""The predictor carries each prediction's expected absolute error (the model's error model) into
the stored row, the reply and ``predictions.made.v1``; a model without one answers ``None``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from valora_contracts import (
    ListingFeatures,
    PredictionInput,
    PredictionMade,
    PredictionReply,
    PredictionRequested,
)
from valora_messaging import FailedRecord, InRecord, OutgoingRecord
from valora_ml.error_model import ErrorModelSettings
from valora_ml.features import build_feature_pipeline
from valora_ml.fitting import IntervalSettings, fit_gate_model
from valora_ml.synthetic import generate_listings
from valora_observability import ServiceMetrics
from valora_predictor.adapters.output import PredictorMetrics
from valora_predictor.domain.holder import ModelHolder
from valora_predictor.domain.model import (
    FeatureColumns,
    ModelOutput,
    ModelRef,
    PyfuncModelHandle,
)
from valora_predictor.domain.predictions import PredictionRow, RowKey
from valora_predictor.domain.valuation import Valuer
from valora_predictor.entrypoints.handlers import RequestHandler

pytestmark = pytest.mark.unit

FEATURES = ListingFeatures(
    area=120.0, bedrooms=3, bathrooms=2, age=5.0, garage=1, neighbourhood="Centro"
)


class EstimatingModel:
    """1,000 per m²; expected error a tenth of the price, none (NaN) above 1,000 m²; with
    ``estimates=False`` a model logged before error models (no estimate at all)."""

    def __init__(self, *, estimates: bool = True) -> None:
        self.ref = ModelRef(name="m", version="1", run_id="run-1")
        self.level = 0.9
        self.known_neighbourhoods = frozenset({"Centro"})
        self.estimates = estimates

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        area = np.asarray(columns["area"], dtype=float)
        price = area * 1000.0
        error = np.where(area > 1000, np.nan, price / 10.0) if self.estimates else None
        return ModelOutput(price=price, lower=price - 1, upper=price + 1, expected_error=error)


@dataclass
class Loader:
    model: EstimatingModel

    def resolve_alias(self, name: str, alias: str) -> ModelRef | None:
        return self.model.ref if alias == "champion" else None

    def load(self, ref: ModelRef, *, expected_sha256: str | None = None) -> EstimatingModel:
        return self.model


@dataclass
class Store:
    rows: dict[RowKey, PredictionRow] = field(default_factory=dict)

    async def save(self, rows: Sequence[PredictionRow]) -> dict[RowKey, PredictionRow]:
        for row in rows:
            self.rows.setdefault(row.key, row)
        return {row.key: self.rows[row.key] for row in rows}


@dataclass
class Output:
    published: list[OutgoingRecord] = field(default_factory=list)

    async def existing_topics(self, names: set[str]) -> set[str]:
        return names

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        self.published.extend(records)

    async def reply(self, records: Sequence[OutgoingRecord]) -> None:
        self.published.extend(records)

    async def dead_letter(self, *, source: object, records: Sequence[FailedRecord]) -> None:
        assert not records, f"nothing should be dead-lettered: {records}"


async def _answer(model: EstimatingModel) -> tuple[PredictionReply, list[PredictionMade], Store]:
    holder = ModelHolder(loader=Loader(model), model_name="m")
    await holder.refresh()
    store, output = Store(), Output()
    handler = RequestHandler(
        valuer=Valuer(holder=holder, store=store),
        output=output,
        metrics=PredictorMetrics(metrics=ServiceMetrics("predictor")),
    )
    huge = FEATURES.model_copy(update={"area": 5000.0})
    request = PredictionRequested(
        reply_to="predictions.replies.gw-1.v1",
        items=[PredictionInput(features=FEATURES), PredictionInput(features=huge)],
    )
    raw = request.model_dump_json().encode()
    await handler.handle_batch([InRecord(value=raw, key=None, topic="t", partition=0, offset=0)])
    replies = [
        PredictionReply.model_validate_json(r.value)
        for r in output.published
        if r.topic.startswith("predictions.replies.")
    ]
    made = [
        PredictionMade.model_validate_json(r.value)
        for r in output.published
        if r.topic == "predictions.made.v1"
    ]
    return replies[0], made, store


async def test_each_prediction_carries_its_expected_error_into_the_reply_row_and_event() -> None:
    reply, made, store = await _answer(EstimatingModel())
    ordinary, unestimated = reply.results
    assert ordinary.expected_abs_error == pytest.approx(12_000.0)
    assert unestimated.expected_abs_error is None  # NaN never reaches JSON
    by_id = {m.result.prediction_id: m.result.expected_abs_error for m in made}
    assert by_id == {
        ordinary.prediction_id: pytest.approx(12_000.0),
        unestimated.prediction_id: None,
    }
    stored = sorted(store.rows.values(), key=lambda r: r.price)
    assert [r.expected_abs_error for r in stored] == [pytest.approx(12_000.0), None]


async def test_a_model_without_an_error_model_answers_none() -> None:
    reply, made, _store = await _answer(EstimatingModel(estimates=False))
    assert [r.expected_abs_error for r in reply.results] == [None, None]
    assert [m.result.expected_abs_error for m in made] == [None, None]


def test_the_pyfunc_handle_passes_the_price_models_estimate_on() -> None:
    frame = generate_listings(300, seed=4)
    frame.insert(0, "listing_id", [f"l{i}" for i in range(len(frame))])
    from sklearn.linear_model import LinearRegression

    gate = fit_gate_model(
        candidates={"lr": lambda: build_feature_pipeline(LinearRegression())},
        fit_rows=frame,
        label="price",
        settings=IntervalSettings(folds=3),
        model_family="lr",
        error_model=ErrorModelSettings(),
    )

    class Pyfunc:
        def unwrap_python_model(self) -> object:
            return gate.model

    handle = PyfuncModelHandle(
        ref=ModelRef("m", "1", "r"), pyfunc=Pyfunc(), half_width=1.0, level=0.9,
        known_neighbourhoods=None,
    )  # fmt: skip
    out = handle.predict(frame.head(5))
    assert out.expected_error is not None
    assert np.isfinite(out.expected_error).all()
    assert (out.expected_error > 0).all()
    gate.model.compile()
    huge = frame.head(5).assign(area=[5_000.0] * 5)  # outside the training range: warnings
    for rows in (frame.head(5), huge):
        full, shadow = handle.predict(rows), handle.predict(rows, bounds_only=True)
        for name in ("price", "lower", "upper"):  # a challenger's answer, exactly the same
            assert getattr(shadow, name).tolist() == getattr(full, name).tolist()
        assert shadow.expected_error is None  # and nothing it would not use
        assert all(w == () for w in shadow.warnings)
    assert any(w for w in handle.predict(huge).warnings)
