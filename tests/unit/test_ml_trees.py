"""Boosted trees compiled to numpy (valora_ml.trees): the same numbers as scikit-learn, or no
compilation at all."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from valora_ml import trees
from valora_ml.intervals import NormalisedInterval, fit_interval
from valora_ml.trees import CompiledTrees, compile_interval, compile_trees

pytestmark = pytest.mark.unit


def _data(n: int = 1500, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.random(x.shape) < 0.03] = np.nan  # missing values take the side the tree learnt
    y = np.nansum(x[:, :3], axis=1) * 10 + 100 + rng.normal(size=n)
    return x, y


def _rows(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) * 2
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingRegressor(max_iter=60, max_depth=3, random_state=0),
        HistGradientBoostingRegressor(random_state=0, early_stopping=False),
        HistGradientBoostingRegressor(loss="quantile", quantile=0.9, max_iter=50, random_state=0),
        TransformedTargetRegressor(
            regressor=HistGradientBoostingRegressor(random_state=0, early_stopping=False),
            func=np.log,
            inverse_func=np.exp,
        ),
    ],
    ids=["shallow", "default", "quantile", "log-target"],
)
def test_the_walk_gives_scikit_learns_numbers(model: object) -> None:
    x, y = _data()
    model.fit(x, y)  # type: ignore[attr-defined]
    compiled = compile_trees(model, n_features=6)
    assert isinstance(compiled, CompiledTrees)
    for n in (1, 8, 2000):  # the last one is past the walk's batch bound: the estimator's own
        rows = _rows(n)
        np.testing.assert_allclose(compiled.predict(rows), model.predict(rows), rtol=1e-12)  # type: ignore[attr-defined]
    np.testing.assert_allclose(compiled.walk(_rows(2000)), model.predict(_rows(2000)), rtol=1e-12)  # type: ignore[attr-defined]


def test_a_log_link_or_a_categorical_split_is_left_to_scikit_learn() -> None:
    x, y = _data()
    poisson = HistGradientBoostingRegressor(loss="poisson", max_iter=20).fit(x, np.abs(y))
    assert compile_trees(poisson, n_features=6) is poisson
    cats = np.column_stack([np.nan_to_num(x[:, :5]), np.arange(len(y)) % 4])
    categorical = HistGradientBoostingRegressor(
        max_iter=20, categorical_features=[5], random_state=0
    ).fit(cats, y + (cats[:, 5] == 2) * 50)
    assert compile_trees(categorical, n_features=6) is categorical


def test_a_walk_that_differs_from_the_estimator_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = _data()
    model = HistGradientBoostingRegressor(max_iter=30, max_depth=3, random_state=0).fit(x, y)
    read = trees._read

    def off_by_one_threshold(estimator: object) -> CompiledTrees | None:
        good = read(estimator)
        assert good is not None
        return replace(good, threshold=good.threshold + 0.5)

    monkeypatch.setattr(trees, "_read", off_by_one_threshold)
    assert compile_trees(model, n_features=6) is model


def test_the_intervals_difficulty_model_is_compiled_with_the_same_bounds() -> None:
    x, y = _data(seed=3)
    price = np.abs(y) * 1000 + 50_000
    rng = np.random.default_rng(0)
    predicted = price * np.exp(rng.normal(scale=0.1, size=len(price)))
    interval = fit_interval(
        matrix=np.nan_to_num(x), y=price, predictions=predicted, folds=np.arange(len(y)) % 5
    )
    assert isinstance(interval, NormalisedInterval)
    fast = compile_interval(interval)
    assert isinstance(fast.scale_model, CompiledTrees)
    rows = np.nan_to_num(_rows(50))
    at = np.full(50, 150_000.0)
    for want, got in zip(interval.bounds(rows, at), fast.bounds(rows, at), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
