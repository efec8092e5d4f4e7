"""valora_ml.fastpath: the compiled serving path equals the pipeline, or is not used."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from valora_ml import fastpath
from valora_ml.fastpath import compile_pipeline
from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline
from valora_ml.model_errors import FeatureError
from valora_ml.pricemodel import PriceModel
from valora_ml.synthetic import generate_listings

pytestmark = pytest.mark.unit


def _fitted(estimator: Any) -> tuple[Pipeline, pd.DataFrame]:
    frame = generate_listings(400, seed=11)
    return build_feature_pipeline(estimator).fit(frame, frame["price"]), frame


def _serving_rows() -> pd.DataFrame:
    rows = generate_listings(60, seed=12)[list(FEATURE_COLUMNS)].copy()
    rows.loc[0, "neighbourhood"] = "Vila Nova"  # never seen in training
    rows.loc[1, "neighbourhood"] = "  Zona Sul "  # padded: stripped like the pipeline does
    rows.loc[2, ["bedrooms", "bathrooms", "age"]] = [0, 1, 2.0]  # studio, is-new boundary
    return rows


@pytest.mark.parametrize(
    "estimator",
    [
        LinearRegression(),
        Ridge(alpha=3.0),
        RandomForestRegressor(n_estimators=20, random_state=0),
        HistGradientBoostingRegressor(max_iter=30, random_state=0),
    ],
    ids=["linear", "ridge", "random-forest", "hist-gradient-boosting"],
)
def test_compiled_path_gives_the_pipelines_prices(estimator: Any) -> None:
    pipeline, _ = _fitted(estimator)
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    rows = _serving_rows()
    expected = pipeline.predict(rows)
    assert np.allclose(compiled.predict(rows), expected, rtol=1e-9, atol=1e-6)
    as_lists = {c: rows[c].tolist() for c in FEATURE_COLUMNS}
    assert np.allclose(compiled.predict(as_lists), expected, rtol=1e-9, atol=1e-6)


def test_compiled_features_equal_the_pipelines_encoded_matrix() -> None:
    pipeline, _ = _fitted(LinearRegression())
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    rows = _serving_rows()
    reference = pipeline[:-1].transform(rows)
    assert np.array_equal(compiled.features(rows), reference)
    unknown_column = compiled.features(rows)[0, -1]
    assert unknown_column == 1.0  # the unseen neighbourhood is the explicit unknown


def test_other_pipeline_shapes_are_not_compiled() -> None:
    frame = generate_listings(100, seed=1)
    plain = Pipeline([("model", LinearRegression())]).fit(frame[["area"]], frame["price"])
    assert compile_pipeline(plain) is None
    assert compile_pipeline(object()) is None


def test_a_compiled_path_that_differs_from_the_pipeline_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, _ = _fitted(LinearRegression())

    def skewed(columns: Any, *, new_age_years: float) -> dict[str, Any]:
        out = dict(real(columns, new_age_years=new_age_years))
        out["age_squared"] = out["age_squared"] * 1.01
        return out

    real = fastpath.derived_columns
    monkeypatch.setattr(fastpath, "derived_columns", skewed)
    assert compile_pipeline(pipeline) is None


def test_compiled_path_rejects_non_numeric_and_missing_columns() -> None:
    pipeline, _ = _fitted(LinearRegression())
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    rows = {c: _serving_rows()[c].head(2).tolist() for c in FEATURE_COLUMNS}
    with pytest.raises(FeatureError, match="area"):
        compiled.predict({**rows, "area": ["big", 3.0]})
    with pytest.raises(FeatureError, match="garage"):
        compiled.predict({c: v for c, v in rows.items() if c != "garage"})


def test_price_model_compiles_on_load_and_never_pickles_the_compiled_path() -> None:
    pipeline, _ = _fitted(Ridge())
    model = PriceModel(pipeline, half_width=1.0, level=0.9, model_family="ridge")
    rows = _serving_rows()
    before = model.predict_price(rows)  # not compiled yet: the pipeline
    model.load_context(None)
    assert getattr(model, "_compiled", None) is not None
    assert np.allclose(model.predict_price(rows), before, rtol=1e-9)
    restored = pickle.loads(pickle.dumps(model))
    assert getattr(restored, "_compiled", None) is None
    assert np.allclose(restored.predict_price(rows), before, rtol=1e-9)
