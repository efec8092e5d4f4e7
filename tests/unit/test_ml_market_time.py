"""valora_ml market time: the months-since-epoch term through the pipeline and the fast path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from valora_ml import fastpath
from valora_ml.fastpath import compile_pipeline
from valora_ml.features import (
    FEATURE_COLUMNS,
    MARKET_TIME_FEATURE,
    TIME_COLUMN,
    build_feature_pipeline,
    market_months,
)
from valora_ml.intervals import ConstantInterval
from valora_ml.model_errors import FeatureError
from valora_ml.pricemodel import PriceModel
from valora_ml.synthetic import generate_listings

pytestmark = pytest.mark.unit
NOW = datetime(2012, 1, 1, tzinfo=UTC)


def dated_market(n: int = 600, seed: int = 5) -> pd.DataFrame:
    """Synthetic listings sold 2006-2011 in a market rising 1 % a month."""
    frame = generate_listings(n, seed=seed)
    rng = np.random.default_rng(seed)
    months = rng.integers(0, 72, n)
    frame[TIME_COLUMN] = [datetime(2006 + m // 12, 1 + m % 12, 15, tzinfo=UTC) for m in months]
    frame["price"] = frame["price"] * 1.01**months
    return frame


def test_market_months_counts_from_the_epoch_and_fills_missing_dates_with_now() -> None:
    months = market_months(["2000-01-01", "2010-07-01T00:00:00+00:00", None], n=3, now=NOW)
    assert months[0] == pytest.approx(0.0)
    assert months[1] == pytest.approx(126.0, abs=0.05)
    assert months[2] == pytest.approx(144.0, abs=0.05)  # the missing date is "now"
    assert np.allclose(market_months(None, n=2, now=NOW), 144.0, atol=0.05)


def test_a_value_that_is_not_a_date_is_a_feature_error() -> None:
    with pytest.raises(FeatureError, match=TIME_COLUMN):
        market_months(["last tuesday"], n=1)


def test_market_time_is_off_unless_asked_for() -> None:
    frame = dated_market(50)
    plain = build_feature_pipeline(LinearRegression()).fit(frame, frame["price"])
    timed = build_feature_pipeline(LinearRegression(), market_time=True).fit(frame, frame["price"])
    assert MARKET_TIME_FEATURE not in plain[:-1].get_feature_names_out()
    assert MARKET_TIME_FEATURE in timed[:-1].get_feature_names_out()


def test_a_market_time_model_values_a_house_at_the_prediction_date() -> None:
    frame = dated_market()
    pipeline = build_feature_pipeline(LinearRegression(), market_time=True)
    model = PriceModel(pipeline.fit(frame, frame["price"]), level=0.9, model_family="linear")
    house = frame[list(FEATURE_COLUMNS)].head(1)
    early = model.predict_price(house, now=datetime(2006, 6, 1, tzinfo=UTC))
    late = model.predict_price(house, now=datetime(2011, 6, 1, tzinfo=UTC))
    assert late[0] > early[0] * 1.3  # five years of a market rising about 1 % a month
    dated = house.assign(**{TIME_COLUMN: [datetime(2006, 6, 1, tzinfo=UTC)]})
    assert model.predict_price(dated, now=NOW)[0] == pytest.approx(early[0])


@pytest.mark.parametrize(
    "estimator",
    [LinearRegression(), HistGradientBoostingRegressor(max_iter=40, random_state=0)],
    ids=["linear", "hist-gradient-boosting"],
)
def test_the_fast_path_reproduces_market_time(estimator: Any) -> None:
    frame = dated_market()
    pipeline = build_feature_pipeline(estimator, market_time=True).fit(frame, frame["price"])
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    assert compiled.market_time
    rows = frame.drop(columns="price").sample(40, random_state=1)
    assert np.allclose(compiled.predict(rows), pipeline.predict(rows), rtol=1e-9, atol=1e-6)
    undated = rows.drop(columns=TIME_COLUMN)
    at_now = undated.assign(**{TIME_COLUMN: [NOW] * len(undated)})
    assert np.allclose(compiled.predict(undated, now=NOW), pipeline.predict(at_now), rtol=1e-9)


def test_a_fast_path_that_gets_market_time_wrong_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = dated_market(200)
    pipeline = build_feature_pipeline(LinearRegression(), market_time=True)
    pipeline.fit(frame, frame["price"])
    real = fastpath.input_columns

    def shifted(columns: Any, **kwargs: Any) -> dict[str, Any]:
        out = real(columns, **kwargs)
        out[MARKET_TIME_FEATURE] = out[MARKET_TIME_FEATURE] + 1.0  # a month off
        return out

    monkeypatch.setattr(fastpath, "input_columns", shifted)
    assert compile_pipeline(pipeline) is None


class _AreaScaledInterval(ConstantInterval):
    """Bounds that depend on the matrix (its first column, the area)."""

    def bounds(self, matrix: Any, price: Any) -> Any:
        return price - self.half_width * matrix[:, 0], price + self.half_width * matrix[:, 0]


def test_a_fast_path_whose_interval_differs_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = dated_market(200)
    pipeline = build_feature_pipeline(DummyRegressor(), market_time=True)
    pipeline.fit(frame, frame["price"])  # prices ignore the features: only the interval differs
    interval = _AreaScaledInterval(level=0.9, half_width=10.0)
    assert compile_pipeline(pipeline, interval=interval) is not None
    real = fastpath.CompiledPipeline.encode

    def nudged(self: Any, inputs: dict[str, Any]) -> Any:
        return real(self, inputs) * (1.0 + 1e-3)

    monkeypatch.setattr(fastpath.CompiledPipeline, "encode", nudged)
    assert compile_pipeline(pipeline) is not None  # same prices
    assert compile_pipeline(pipeline, interval=interval) is None
