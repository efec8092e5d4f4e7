"""Direct loss estimation: the error model sees where errors are larger, ships inside the price
model, is walked in numpy, and a model pickled without one still serves."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from valora_ml.error_model import ErrorModelSettings, fit_error_model
from valora_ml.features import build_feature_pipeline
from valora_ml.fitting import IntervalSettings, fit_gate_model, fit_served_model
from valora_ml.model_errors import CalibrationError
from valora_ml.pricemodel import PriceModel, valuation_metadata
from valora_ml.splitting import hold_out_split
from valora_ml.synthetic import generate_listings
from valora_ml.trees import CompiledTrees

pytestmark = pytest.mark.unit


def _make() -> Pipeline:
    return build_feature_pipeline(HistGradientBoostingRegressor(max_iter=40, random_state=0))


def _heteroscedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features x in [0, 1]; the true price 100k, its errors ten times larger where x > 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    scale = np.where(x[:, 0] > 0.5, 20_000.0, 2_000.0)
    prediction = np.full(n, 100_000.0)
    y = prediction + rng.normal(0.0, 1.0, n) * scale
    return x, y, prediction


@pytest.mark.parametrize("target", ["relative", "absolute"])
def test_the_estimate_is_larger_where_the_errors_are_larger(target: str) -> None:
    x, y, pred = _heteroscedastic(4000, seed=1)
    model = fit_error_model(
        matrix=x,
        y=y,
        predictions=pred,
        settings=ErrorModelSettings(target=target),  # type: ignore[arg-type]
    )
    fresh, truth, fresh_pred = _heteroscedastic(4000, seed=2)
    estimate = model.expected(fresh, fresh_pred)
    noisy = fresh[:, 0] > 0.5
    assert (estimate >= 0).all()
    assert estimate[noisy].mean() > 5 * estimate[~noisy].mean()
    for rows in (noisy, ~noisy):  # the mean estimate is the mean realised error, per group
        realised = np.abs(truth[rows] - fresh_pred[rows]).mean()
        assert estimate[rows].mean() == pytest.approx(realised, rel=0.1)


def test_the_error_model_refuses_mismatched_or_too_few_rows() -> None:
    x, y, pred = _heteroscedastic(100, seed=3)
    with pytest.raises(CalibrationError, match="one row each"):
        fit_error_model(matrix=x[:50], y=y, predictions=pred, settings=ErrorModelSettings())
    with pytest.raises(CalibrationError, match="too few"):
        fit_error_model(matrix=x[:5], y=y[:5], predictions=pred[:5], settings=ErrorModelSettings())


def test_the_compiled_error_model_gives_the_same_estimates() -> None:
    x, y, pred = _heteroscedastic(1000, seed=4)
    model = fit_error_model(matrix=x, y=y, predictions=pred, settings=ErrorModelSettings())
    compiled = model.compiled()
    assert isinstance(compiled.model, CompiledTrees)
    assert np.allclose(compiled.expected(x[:8], pred[:8]), model.expected(x[:8], pred[:8]))


def _listings(n: int) -> pd.DataFrame:
    frame = generate_listings(n, seed=5)
    frame.insert(0, "listing_id", [f"l{i:04d}" for i in range(n)])
    return frame


def test_price_model_value_returns_the_expected_error_of_each_row() -> None:
    split = hold_out_split(_listings(600), test_fraction=0.2, seed=1)
    settings = IntervalSettings(folds=3)
    gate = fit_gate_model(
        candidates={"hgb": _make}, fit_rows=split.fit, label="price", settings=settings,
        model_family="hgb", error_model=ErrorModelSettings(),
    )  # fmt: skip
    assert gate.model.estimator_of_error() is not None
    assert isinstance(gate.model.__dict__["_compiled_error"].model, CompiledTrees)  # walked
    valuation = gate.model.value(split.test.drop(columns=["price", "listing_id"]))
    assert valuation.expected_error is not None
    assert valuation.expected_error.shape == valuation.price.shape
    assert np.isfinite(valuation.expected_error).all()
    realised = np.abs(split.test["price"].to_numpy() - valuation.price).mean()
    assert valuation.expected_error.mean() == pytest.approx(realised, rel=0.5)
    served, _rows = fit_served_model(
        gate=gate, fit_rows=split.fit, test_rows=split.test, label="price", settings=settings,
        error_model=ErrorModelSettings(),
    )  # fmt: skip
    reloaded = pickle.loads(pickle.dumps(served))
    assert "_compiled_error" not in reloaded.__dict__  # derived on load, never pickled
    reloaded.compile()
    rows = split.test.head(4).drop(columns=["price", "listing_id"])
    assert np.allclose(reloaded.value(rows).expected_error, served.value(rows).expected_error)
    out = served.predict(None, rows, params={"expected_error": True})
    assert list(out.columns) == ["price", "expected_error"]
    assert valuation_metadata(served)["error_model"] == "relative"


def test_a_model_without_an_error_model_still_serves_with_nan_estimates() -> None:
    frame = _listings(200)
    old = PriceModel(_make().fit(frame, frame["price"]), half_width=1000.0, level=0.9,
                     model_family="hgb")  # fmt: skip
    del old.__dict__["error_model"]  # as unpickled from a version before error models
    old = pickle.loads(pickle.dumps(old))
    old.compile()
    valuation = old.value(frame.head(3))
    assert valuation.expected_error is not None
    assert np.isnan(valuation.expected_error).all()
    assert np.isfinite(valuation.price).all()
    assert valuation_metadata(old)["error_model"] is None


def test_a_price_predicted_near_zero_or_below_does_not_blow_up_the_relative_target() -> None:
    x, y, pred = _heteroscedastic(2000, seed=6)
    pred = pred.copy()
    pred[0] = -25_000.0  # a model may predict below zero: |y - pred| / pred would be huge
    model = fit_error_model(matrix=x, y=y, predictions=pred, settings=ErrorModelSettings())
    estimate = model.expected(x[1:], pred[1:])
    realised = np.abs(y[1:] - pred[1:]).mean()
    assert estimate.mean() == pytest.approx(realised, rel=0.15)
    assert model.price_floor == pytest.approx(np.quantile(y, 0.05))
