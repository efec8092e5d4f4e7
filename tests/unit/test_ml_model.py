"""valora_ml: feature pipeline, conformal interval, metrics, reference profile, pyfunc model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from valora_ml.conformal import conformal_half_width, interval_bounds, interval_coverage
from valora_ml.features import (
    DERIVED_FEATURES,
    FEATURE_COLUMNS,
    UNKNOWN_NEIGHBOURHOOD,
    DerivedFeatures,
    NeighbourhoodEncoder,
    build_feature_pipeline,
    contract_frame,
)
from valora_ml.metrics import regression_metrics
from valora_ml.model_errors import CalibrationError, FeatureError, ModelFormatError
from valora_ml.pricemodel import PriceModel, interval_from_metadata, model_metadata
from valora_ml.profile import build_reference_profile, profile_numeric
from valora_ml.synthetic import generate_listings

pytestmark = pytest.mark.unit


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    return generate_listings(n, seed=seed)


def test_derived_features_are_computed_row_wise() -> None:
    frame = pd.DataFrame(
        [
            {
                "area": 100.0,
                "bedrooms": 3,
                "bathrooms": 1,
                "age": 1.0,
                "garage": 1,
                "neighbourhood": " Centro ",
            }
        ]
    )
    out = DerivedFeatures().fit(frame).transform(frame)
    row = out.iloc[0]
    assert row["area_per_room"] == 25.0
    assert row["bathroom_ratio"] == pytest.approx(1 / 3)
    assert row["age_squared"] == 1.0
    assert row["total_rooms"] == 4.0
    assert row["is_new"] == 1.0
    assert row["neighbourhood"] == "Centro"
    assert list(DerivedFeatures().get_feature_names_out()) == [*FEATURE_COLUMNS, *DERIVED_FEATURES]


def test_zero_rooms_do_not_divide_by_zero() -> None:
    frame = pd.DataFrame(
        [
            {
                "area": 30.0,
                "bedrooms": 0,
                "bathrooms": 0,
                "age": 130.0,
                "garage": 0,
                "neighbourhood": "X",
            }
        ]
    )
    out = DerivedFeatures().fit(frame).transform(frame)
    assert np.isfinite(out[list(DERIVED_FEATURES)].to_numpy()).all()


def test_missing_or_non_numeric_columns_raise_feature_error() -> None:
    with pytest.raises(FeatureError, match="missing"):
        DerivedFeatures().fit(pd.DataFrame({"area": [1.0]}))
    bad = _frame(2).assign(area=["a", "b"])
    with pytest.raises(FeatureError, match="area"):
        contract_frame(bad)


def test_unseen_neighbourhood_is_a_known_unknown() -> None:
    enc = NeighbourhoodEncoder().fit(pd.DataFrame({"n": ["A", "B", "A"]}))
    out = enc.transform(pd.DataFrame({"n": ["A", "B", "Nowhere"]}))
    assert out.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert enc.get_feature_names_out()[-1] == f"neighbourhood={UNKNOWN_NEIGHBOURHOOD}"


def test_pipeline_accepts_any_column_order_and_unknown_neighbourhood() -> None:
    train = _frame(200)
    model = build_feature_pipeline(LinearRegression()).fit(
        train[list(FEATURE_COLUMNS)], train["price"]
    )
    shuffled = train[list(reversed(FEATURE_COLUMNS))].head(3)
    np.testing.assert_allclose(
        model.predict(shuffled), model.predict(train[list(FEATURE_COLUMNS)].head(3))
    )
    unseen = train[list(FEATURE_COLUMNS)].head(1).assign(neighbourhood="Atlantis")
    assert np.isfinite(model.predict(unseen)).all()


def test_contract_frame_keeps_counts_integer() -> None:
    out = contract_frame(_frame(5))
    assert str(out["bedrooms"].dtype) == "int64"
    assert str(out["area"].dtype) == "float64"
    assert list(out.columns) == list(FEATURE_COLUMNS)


def test_conformal_half_width_is_the_finite_sample_quantile() -> None:
    residuals = np.arange(1, 20, dtype=float)  # 19 calibration rows
    # ceil((19 + 1) * 0.9) = 18th smallest
    assert conformal_half_width(residuals, np.zeros(19), level=0.9) == 18.0
    with pytest.raises(CalibrationError):
        conformal_half_width([1.0, 2.0], [0.0, 0.0], level=0.9)
    lo, hi = interval_bounds([10.0], 2.0)
    assert (lo[0], hi[0]) == (8.0, 12.0)
    assert interval_coverage([1.0, 5.0], [0.0, 0.0], 2.0) == 0.5


def test_conformal_interval_covers_about_the_level() -> None:
    rng = np.random.default_rng(0)
    cal, test = rng.normal(size=2000), rng.normal(size=5000)
    hw = conformal_half_width(cal, np.zeros_like(cal), level=0.9)
    assert 0.88 <= interval_coverage(test, np.zeros_like(test), hw) <= 0.92


def test_regression_metrics() -> None:
    m = regression_metrics([100.0, 200.0], [110.0, 190.0])
    assert m.rmse == 10.0
    assert m.mae == 10.0
    assert m.mape == pytest.approx(0.075)
    assert m.r2 == pytest.approx(1 - 200 / 5000)


def test_reference_profile_bins_and_frequencies() -> None:
    frame = contract_frame(_frame(500))
    profile = build_reference_profile(frame, frame["area"] * 2000, bins=5)
    area = profile.numeric["area"]
    assert len(area.cuts) == 4
    assert sum(area.frequencies) == pytest.approx(1.0)
    assert all(0.15 <= f <= 0.25 for f in area.frequencies)
    assert sum(profile.categorical["neighbourhood"].frequencies.values()) == pytest.approx(1.0)
    assert profile.n_rows == 500
    assert area.bin_shares(frame["area"]) == pytest.approx(area.frequencies)
    restored = type(profile).model_validate_json(profile.model_dump_json())
    assert restored == profile
    constant = profile_numeric(np.ones(10), bins=4)
    assert constant.cuts == [1.0]
    assert math.isclose(sum(constant.frequencies), 1.0)


def test_price_model_predicts_prices_and_intervals() -> None:
    train = _frame(100)
    pipe = build_feature_pipeline(DummyRegressor(strategy="constant", constant=300_000.0))
    pipe.fit(train[list(FEATURE_COLUMNS)], train["price"])
    model = PriceModel(pipe, half_width=1000.0, level=0.9, model_family="dummy")
    x = contract_frame(train.head(3))
    np.testing.assert_allclose(model.predict(None, x), [300_000.0] * 3)
    out = model.predict(None, x, params={"interval": True})
    assert list(out.columns) == ["price", "lower", "upper"]
    assert out["upper"].iloc[0] - out["lower"].iloc[0] == 2000.0


def test_interval_metadata_round_trip() -> None:
    meta = model_metadata(half_width=123.0, level=0.9, model_family="x", extra={"a": 1})
    spec = interval_from_metadata(meta)
    assert (spec.level, spec.half_width) == (0.9, 123.0)
    with pytest.raises(ModelFormatError):
        interval_from_metadata({})
