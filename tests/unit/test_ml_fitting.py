"""valora_ml fitting, splitting and ranges: every row used, time respected, ranges warned."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from valora_ml.features import FEATURE_COLUMNS, TIME_COLUMN, build_feature_pipeline
from valora_ml.fitting import IntervalSettings, cross_fit, fit_gate_model, fit_served_model
from valora_ml.intervals import NormalisedInterval
from valora_ml.model_errors import CalibrationError
from valora_ml.pricemodel import PriceModel, valuation_metadata
from valora_ml.ranges import FeatureRanges, training_ranges
from valora_ml.splitting import hold_out_split
from valora_ml.synthetic import generate_listings

pytestmark = pytest.mark.unit


def _listings(n: int, *, dated: bool) -> pd.DataFrame:
    frame = generate_listings(n, seed=21)
    frame.insert(0, "listing_id", [f"l{i:04d}" for i in range(n)])
    if dated:  # listing i is listed on day i (ids sort differently from dates on purpose)
        frame[TIME_COLUMN] = pd.date_range("2020-01-01", periods=n, freq="D", tz=UTC)[::-1]
    return frame


def _make() -> Pipeline:
    return build_feature_pipeline(HistGradientBoostingRegressor(max_iter=40, random_state=0))


def test_dated_rows_are_split_by_time_newest_held_out() -> None:
    frame = _listings(200, dated=True)
    split = hold_out_split(frame, test_fraction=0.2, seed=1)
    assert split.kind == "time"
    assert split.market_time
    assert len(split.test) == 40
    assert len(split.fit) == 160
    assert split.fit[TIME_COLUMN].max() < split.test[TIME_COLUMN].min()


def test_undated_rows_keep_the_seeded_hash_split() -> None:
    frame = _listings(200, dated=False)
    partly = _listings(200, dated=True)
    partly.loc[5, TIME_COLUMN] = None  # one undated row: no time split
    first = hold_out_split(frame, test_fraction=0.2, seed=1)
    assert first.kind == "hash"
    assert not first.market_time
    assert hold_out_split(partly, test_fraction=0.2, seed=1).kind == "hash"
    grown = hold_out_split(_listings(260, dated=False), test_fraction=0.2, seed=1)
    kept = set(first.fit["listing_id"]) & set(grown.test["listing_id"])
    assert len(kept) <= 2  # a fitted listing (almost) never becomes a test row as data grows
    other = hold_out_split(frame, test_fraction=0.2, seed=2)
    assert set(other.test["listing_id"]) != set(first.test["listing_id"])


def test_gate_model_uses_every_fit_row_and_served_model_every_row() -> None:
    frame = _listings(500, dated=False)
    split = hold_out_split(frame, test_fraction=0.2, seed=3)
    settings = IntervalSettings(level=0.9, folds=4)
    gate = fit_gate_model(
        candidates={"hgb": _make}, fit_rows=split.fit, label="price", settings=settings,
        model_family="hgb",
    )  # fmt: skip
    assert gate.rows == 400
    assert gate.out_of_fold.predictions.shape == (400,)
    assert sorted(set(gate.out_of_fold.folds.tolist())) == [0, 1, 2, 3]
    assert gate.model.pipeline[-1].n_iter_ > 0
    assert isinstance(gate.model.interval, NormalisedInterval)
    test = split.test.copy()
    test.loc[test.index[0], "neighbourhood"] = "Only In Test"  # the served model learns it
    served, rows = fit_served_model(
        gate=gate, fit_rows=split.fit, test_rows=test, label="price", settings=settings
    )
    assert rows.as_params() == {"rows.gate_fit": 400, "rows.gate_test": 100, "rows.served_fit": 500}
    encoder = served.pipeline.named_steps["encode"].named_transformers_["neighbourhood"]
    assert "Only In Test" in encoder.categories_
    valuation = served.value(test)
    inside = (test["price"] >= valuation.lower) & (test["price"] <= valuation.upper)
    assert inside.mean() >= 0.85
    assert served.ranges is not None
    assert served.ranges.bounds["area"][1] >= test["area"].max()


def test_out_of_range_inputs_are_warned_per_row_naming_feature_and_range() -> None:
    ranges = FeatureRanges({"area": (30.0, 500.0), "age": (0.0, 50.0)})
    warnings = ranges.warnings(
        {"area": np.array([100.0, 5000.0, np.inf, 20.0]), "age": np.array([5.0, 300.0, 1.0, 9.0])}
    )
    assert warnings[0] == ()
    assert len(warnings[1]) == 2
    assert warnings[1][0].startswith("area 5000 is outside the training range [30, 500]")
    assert warnings[1][1].startswith("age 300 is outside the training range [0, 50]")
    assert warnings[2][0].startswith("area inf is outside")
    assert warnings[3][0].startswith("area 20 is outside")
    assert FeatureRanges.from_dict(ranges.as_dict()) == ranges


def test_price_model_values_with_adaptive_interval_and_warnings_on_both_paths() -> None:
    frame = _listings(400, dated=True)
    split = hold_out_split(frame, test_fraction=0.2, seed=3)
    make = lambda: build_feature_pipeline(  # noqa: E731
        HistGradientBoostingRegressor(max_iter=40, random_state=0), market_time=True
    )
    gate = fit_gate_model(
        candidates={"hgb": make}, fit_rows=split.fit, label="price",
        settings=IntervalSettings(folds=3), model_family="hgb",
    )  # fmt: skip
    model = gate.model
    assert model.market_time
    assert getattr(model, "_compiled", None) is not None
    rows = split.test[[*FEATURE_COLUMNS, TIME_COLUMN]].head(5).copy()
    rows.loc[rows.index[0], "area"] = 5000.0
    now = datetime(2021, 6, 1, tzinfo=UTC)
    fast = model.value(rows, now=now)
    reference = pickle.loads(pickle.dumps(model)).value(rows, now=now)  # not compiled
    for a, b in ((fast.price, reference.price), (fast.lower, reference.lower)):
        assert np.allclose(a, b, rtol=1e-9)
    assert fast.warnings == reference.warnings
    assert "area 5000 is outside the training range" in fast.warnings[0][0]
    assert fast.warnings[1:] == [(), (), (), ()]
    widths = fast.upper - fast.lower
    assert widths.std() > 0  # not one width for every house
    out = model.predict(None, rows, params={"interval": True, "warnings": True})
    assert list(out.columns) == ["price", "lower", "upper", "warnings"]
    assert out["warnings"].iloc[0]
    assert out["warnings"].iloc[1] == []
    meta = valuation_metadata(model)
    assert meta["interval_method"] == "normalised"
    assert meta["market_time"] is True
    assert meta["training_ranges"]["area"] == list(training_ranges(split.fit).bounds["area"])


def test_a_model_logged_before_adaptive_intervals_keeps_its_constant_interval() -> None:
    frame = _listings(200, dated=False)
    old = PriceModel(_make().fit(frame, frame["price"]), half_width=1000.0, level=0.9,
                     model_family="hgb")  # fmt: skip
    del old.__dict__["interval"], old.__dict__["ranges"]  # as unpickled from an older version
    old.compile()
    valuation = old.value(frame.head(3))
    assert np.allclose(valuation.upper - valuation.lower, 2000.0)
    assert valuation.warnings == [(), (), ()]


def test_the_candidate_with_the_lowest_out_of_fold_rmse_is_fitted() -> None:
    frame = _listings(300, dated=False)
    split = hold_out_split(frame, test_fraction=0.2, seed=3)
    candidates = {
        "mean only": lambda: build_feature_pipeline(DummyRegressor()),
        "linear": lambda: build_feature_pipeline(LinearRegression()),
    }
    gate = fit_gate_model(
        candidates=candidates, fit_rows=split.fit, label="price",
        settings=IntervalSettings(folds=3), model_family={"mean only": "dummy", "linear": "lin"},
    )  # fmt: skip
    assert gate.chosen == "linear"
    assert gate.model.model_family == "lin"
    assert gate.candidate_rmse["linear"] < gate.candidate_rmse["mean only"]
    assert isinstance(gate.model.pipeline[-1], LinearRegression)
    with pytest.raises(CalibrationError, match="fitted on"):
        fit_served_model(
            gate=gate, fit_rows=split.fit.head(10), test_rows=split.test, label="price",
            settings=IntervalSettings(folds=3),
        )  # fmt: skip


def test_on_dated_rows_candidates_are_compared_on_the_newest_fit_rows() -> None:
    """A model is used on the future: with dated rows the candidate that values the newest fit
    rows best wins (here the one that learnt the market's rise), and only it is cross-fitted."""
    frame = _listings(400, dated=True)
    days = (frame[TIME_COLUMN] - frame[TIME_COLUMN].min()).dt.days.to_numpy()
    frame["price"] = frame["price"] * (1.0 + days / 200.0)  # prices rise with the market
    split = hold_out_split(frame, test_fraction=0.2, seed=3)
    candidates = {
        "no market time": lambda: build_feature_pipeline(LinearRegression()),
        "market time": lambda: build_feature_pipeline(LinearRegression(), market_time=True),
    }
    gate = fit_gate_model(
        candidates=candidates, fit_rows=split.fit, label="price",
        settings=IntervalSettings(folds=3), model_family="lin",
    )  # fmt: skip
    assert gate.selection == "newest"
    assert gate.chosen == "market time"
    assert gate.candidate_rmse["market time"] < gate.candidate_rmse["no market time"]
    assert gate.model.market_time
    assert len(gate.out_of_fold.predictions) == len(split.fit)  # calibrates its interval


def test_on_dated_rows_the_interval_is_calibrated_on_blocks_of_time() -> None:
    """A served model values sales after its newest one: on dated rows each calibration fold is
    a contiguous block of time, so a row is predicted without the sales of its own period. On a
    market that moves, those errors are the larger, honest ones; shuffled folds let each row's
    neighbours in time into the fit and calibrate on interpolation."""
    frame = _listings(400, dated=True)
    days = (frame[TIME_COLUMN] - frame[TIME_COLUMN].min()).dt.days.to_numpy()
    frame["price"] = frame["price"] * (1.0 + np.sin(days / 25.0) / 4.0)  # the market cycles
    split = hold_out_split(frame, test_fraction=0.2, seed=3)
    x, y = split.fit[[*FEATURE_COLUMNS, TIME_COLUMN]], split.fit["price"].to_numpy(dtype=float)

    def make() -> Pipeline:
        return build_feature_pipeline(
            HistGradientBoostingRegressor(max_iter=60, random_state=0), market_time=True
        )

    blocked = cross_fit(make, x, y, folds=4, seed=0, dates=split.fit[TIME_COLUMN])
    shuffled = cross_fit(make, x, y, folds=4, seed=0)
    stamps = split.fit[TIME_COLUMN].to_numpy()
    spans = sorted((stamps[blocked.folds == k].min(), stamps[blocked.folds == k].max())
                   for k in range(4))  # fmt: skip
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(spans))
    assert sorted(np.bincount(blocked.folds)) == [80, 80, 80, 80]
    error = {name: float(np.mean(np.abs(oof.predictions - y)))
             for name, oof in {"blocked": blocked, "shuffled": shuffled}.items()}  # fmt: skip
    assert error["blocked"] > 1.5 * error["shuffled"]

    gate = fit_gate_model(
        candidates={"hgb": make}, fit_rows=split.fit, label="price",
        settings=IntervalSettings(folds=4), model_family="hgb",
    )  # fmt: skip
    np.testing.assert_array_equal(gate.out_of_fold.folds, blocked.folds)
    np.testing.assert_allclose(gate.out_of_fold.predictions, blocked.predictions)
    assert gate.calibration_folds == "time_blocks"


def test_the_tuned_first_candidate_must_win_by_the_margin() -> None:
    """The search's best is scored on the rows it was tuned on (optimistic): a tie, or a win
    smaller than ``first_margin``, goes to the other candidate; a clear win does not."""
    split = hold_out_split(_listings(300, dated=False), test_fraction=0.2, seed=3)
    same = {
        "tuned": lambda: build_feature_pipeline(LinearRegression()),
        "untuned": lambda: build_feature_pipeline(LinearRegression()),
    }
    settings = IntervalSettings(folds=3)
    tie = fit_gate_model(
        candidates=same, fit_rows=split.fit, label="price", settings=settings,
        model_family="lin", first_margin=0.02,
    )  # fmt: skip
    assert tie.chosen == "untuned"
    mean_only = {"tuned": same["tuned"], "mean": lambda: build_feature_pipeline(DummyRegressor())}
    clear = fit_gate_model(
        candidates=mean_only, fit_rows=split.fit, label="price", settings=settings,
        model_family="x", first_margin=0.02,
    )  # fmt: skip
    assert clear.chosen == "tuned"
