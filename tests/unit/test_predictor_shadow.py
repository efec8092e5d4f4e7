"""The predictor's shadow challenger: valued in the same call as the champion, stored and
published as a pair, never answered; dropped on promotion or retirement; a failing challenger
never fails the champion's answer."""

from __future__ import annotations

import numpy as np
import pytest
from test_predictor import (
    FEATURES,
    FakeLoader,
    FakeModel,
    FakeOutput,
    FakeStore,
    _listing,
    _metrics,
    _record,
    _request,
)
from valora_contracts import (
    ChallengerChanged,
    PredictionInput,
    PredictionRequested,
    ShadowPrediction,
)
from valora_predictor.domain.holder import ModelHolder
from valora_predictor.domain.model import FeatureColumns, ModelOutput
from valora_predictor.domain.valuation import Valuer
from valora_predictor.entrypoints.handlers import RequestHandler, StreamHandler
from valora_predictor.entrypoints.models import ChallengerHandler

pytestmark = pytest.mark.unit


class BrokenModel(FakeModel):
    """Loads and warms up, then fails on every real batch."""

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        if list(columns["area"]) != [100.0]:  # the warm-up house
            raise RuntimeError("the challenger's pickle is broken")
        return super().predict(columns)


async def _pair(
    loader: FakeLoader,
) -> tuple[ModelHolder, ModelHolder]:
    champion = ModelHolder(loader=loader, model_name="m")
    challenger = ModelHolder(loader=loader, model_name="m", alias="challenger")
    await champion.refresh()
    await challenger.refresh()
    return champion, challenger


def _shadow_events(output: FakeOutput) -> list[ShadowPrediction]:
    return [
        ShadowPrediction.model_validate_json(r.value)
        for r in output.published
        if r.topic == "predictions.shadow.v1"
    ]


def _shadows(store: FakeStore) -> dict[str, tuple[str, float]]:
    """prediction id -> (challenger version, price) of every stored row with a shadow answer."""
    return {
        r.prediction_id: (r.shadow.model_version, r.shadow.price)
        for r in store.rows.values()
        if r.shadow is not None
    }


async def test_a_challenger_values_the_same_batch_is_stored_and_published_never_answered() -> None:
    champion_model, challenger_model = FakeModel("1"), FakeModel("2", offset=5_000.0)
    loader = FakeLoader({"1": champion_model, "2": challenger_model}, "1", challenger="2")
    champion, challenger = await _pair(loader)
    store, output = FakeStore(), FakeOutput()
    valuer = Valuer(holder=champion, store=store, shadow=challenger)
    handler = RequestHandler(valuer=valuer, output=output, metrics=_metrics())
    other = FEATURES.model_copy(update={"area": 80.0})
    request = PredictionRequested(
        reply_to="predictions.replies.gw-1.v1",
        items=[
            PredictionInput(features=FEATURES, listing_id="L7"),
            PredictionInput(features=other),
        ],
    )

    await handler.handle_batch([_record(request.model_dump_json().encode())])

    assert champion_model.calls[-1] == challenger_model.calls[-1] == 2  # one call each
    # the challenger is asked for prices and bounds only (no warnings, no error model)
    assert (champion_model.bounds_only[-1], challenger_model.bounds_only[-1]) == (False, True)
    replies = output.replies()
    assert [r.model_version for r in replies[0].results] == ["1", "1"]  # answered: champion
    assert [r.price for r in replies[0].results] == pytest.approx([120_500.0, 80_000.0])
    ids = [r.prediction_id for r in replies[0].results]
    assert _shadows(store) == {ids[0]: ("2", 125_500.0), ids[1]: ("2", 85_000.0)}
    # published only where a sale can be joined: the input with a listing id
    [event] = _shadow_events(output)
    assert (event.listing_id, event.prediction_id) == ("L7", ids[0])
    assert (event.champion_price, event.challenger_price) == (120_500.0, 125_500.0)


async def test_a_redelivered_batch_republishes_the_same_pair_event_and_stores_no_second_row() -> (
    None
):
    loader = FakeLoader({"1": FakeModel("1"), "2": FakeModel("2", offset=1.0)}, "1", challenger="2")
    champion, challenger = await _pair(loader)
    store, output = FakeStore(), FakeOutput()
    valuer = Valuer(holder=champion, store=store, shadow=challenger)
    stream = StreamHandler(valuer=valuer, sink=output, metrics=_metrics())
    record = _record(_listing("L1"))

    await stream.handle_batch([record])
    await stream.handle_batch([record])

    events = _shadow_events(output)
    assert len(events) == 2
    assert events[0].event_id == events[1].event_id
    assert events[0].listing_id == "L1"
    assert len(_shadows(store)) == 1
    assert len(store.rows) == 1


async def test_a_failing_challenger_never_fails_the_champions_answer() -> None:
    loader = FakeLoader({"1": FakeModel("1"), "2": BrokenModel("2")}, "1", challenger="2")
    champion, challenger = await _pair(loader)
    store, output = FakeStore(), FakeOutput()
    valuer = Valuer(holder=champion, store=store, shadow=challenger)
    handler = RequestHandler(valuer=valuer, output=output, metrics=_metrics())

    outcome = await handler.handle_batch([_record(_request(FEATURES))])

    assert outcome.errors == 0
    assert outcome.predictions == 1
    assert output.replies()[0].results[0].model_version == "1"
    assert _shadow_events(output) == []
    assert _shadows(store) == {}


async def test_a_retired_challenger_is_dropped_at_once_and_a_new_one_loaded() -> None:
    models = {"1": FakeModel("1"), "2": FakeModel("2"), "3": FakeModel("3")}
    loader = FakeLoader(models, "1", challenger="2")
    champion, challenger = await _pair(loader)
    handler = ChallengerHandler(holder=challenger)
    output = FakeOutput()
    valuer = Valuer(holder=champion, store=FakeStore(), shadow=challenger)
    requests = RequestHandler(valuer=valuer, output=output, metrics=_metrics())

    retired = ChallengerChanged(model_name="m", model_version="2", status="retired")
    assert await handler.handle(retired.model_dump_json().encode())
    assert challenger.current is None
    await requests.handle_batch([_record(_request(FEATURES))])
    assert _shadow_events(output) == []

    loader.challenger = "3"
    shadowing = ChallengerChanged(model_name="m", model_version="3", status="shadowing")
    assert await handler.handle(shadowing.model_dump_json().encode())
    await challenger.wait_idle()
    assert challenger.current is not None
    assert challenger.current.ref.version == "3"
    other_model = ChallengerChanged(model_name="other", model_version="9", status="retired")
    assert not await handler.handle(other_model.model_dump_json().encode())


async def test_the_challenger_alias_gone_drops_it_but_the_champion_is_never_dropped() -> None:
    loader = FakeLoader({"1": FakeModel("1"), "2": FakeModel("2")}, "1", challenger="2")
    champion, challenger = await _pair(loader)
    loader.challenger = None
    loader.champion = None
    await challenger.refresh()
    await champion.refresh()
    assert challenger.current is None
    assert champion.current is not None  # an unreadable champion alias keeps the served one


async def test_a_promoted_challenger_is_not_valued_twice_as_its_own_shadow() -> None:
    model = FakeModel("2")
    loader = FakeLoader({"2": model}, "2", challenger="2")
    champion, challenger = await _pair(loader)
    output = FakeOutput()
    valuer = Valuer(holder=champion, store=FakeStore(), shadow=challenger)
    await RequestHandler(valuer=valuer, output=output, metrics=_metrics()).handle_batch(
        [_record(_request(FEATURES))]
    )
    assert model.calls == [1, 1, 1]  # each holder's warm-up, then the champion's call only
    assert _shadow_events(output) == []


class NanModel(FakeModel):
    """Answers NaN for a house over 100 m² (the warm-up house is 100 m²)."""

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        out = super().predict(columns)
        price = np.where(np.asarray(columns["area"], dtype=float) > 100, np.nan, out.price)
        return ModelOutput(price=price, lower=price - 1.0, upper=price + 1.0)


async def test_a_non_finite_challenger_answer_is_dropped_not_published() -> None:
    loader = FakeLoader({"1": FakeModel("1"), "2": NanModel("2")}, "1", challenger="2")
    champion, challenger = await _pair(loader)
    store, output = FakeStore(), FakeOutput()
    stream = StreamHandler(
        valuer=Valuer(holder=champion, store=store, shadow=challenger),
        sink=output,
        metrics=_metrics(),
    )
    await stream.handle_batch([_record(_listing("L1"))])  # 120.5 m²: NaN in the shadow
    assert len(output.made()) == 1
    assert _shadow_events(output) == []
    assert _shadows(store) == {}
