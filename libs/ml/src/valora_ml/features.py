"""The feature pipeline shared by the trainer and the predictor (saved inside every model).

One scikit-learn :class:`~sklearn.pipeline.Pipeline` turns a DataFrame with the six English
input columns into model features: the numeric inputs, derived features (area per room, bathroom
ratio, age², total rooms, is-new) and a one-hot neighbourhood with an explicit *unknown* column,
so a neighbourhood never seen in training is a known "unknown", never silently mapped to an
existing one. The estimator is the pipeline's last step, so serving cannot skew from training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from valora_ml.model_errors import FeatureError

__all__ = [
    "CATEGORICAL_INPUTS",
    "DERIVED_FEATURES",
    "FEATURE_COLUMNS",
    "NUMERIC_INPUTS",
    "UNKNOWN_NEIGHBOURHOOD",
    "DerivedFeatures",
    "NeighbourhoodEncoder",
    "build_feature_pipeline",
    "coerce_features",
    "contract_frame",
]

NUMERIC_INPUTS: tuple[str, ...] = ("area", "bedrooms", "bathrooms", "age", "garage")
CATEGORICAL_INPUTS: tuple[str, ...] = ("neighbourhood",)
FEATURE_COLUMNS: tuple[str, ...] = (*NUMERIC_INPUTS, *CATEGORICAL_INPUTS)
"""The model's input columns (English names), in canonical order."""
DERIVED_FEATURES: tuple[str, ...] = (
    "area_per_room",
    "bathroom_ratio",
    "age_squared",
    "total_rooms",
    "is_new",
)
UNKNOWN_NEIGHBOURHOOD = "__unknown__"


def coerce_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The six input columns in canonical order: numerics as float, neighbourhood as str."""
    missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise FeatureError(f"missing feature columns: {', '.join(missing)}")
    out = pd.DataFrame(index=frame.index)
    for column in NUMERIC_INPUTS:
        try:
            out[column] = pd.to_numeric(frame[column], errors="raise").astype(float)
        except (TypeError, ValueError) as exc:
            raise FeatureError(f"column {column!r} is not numeric: {exc}") from exc
    out["neighbourhood"] = frame["neighbourhood"].astype(str).str.strip()
    return out


_INTEGER_INPUTS = frozenset({"bedrooms", "bathrooms", "garage"})


def contract_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The six input columns with the contract's types (``ListingFeatures``): the model
    signature's schema. Integer counts stay integers, so serving input matches exactly."""
    out = coerce_features(frame)
    for column in _INTEGER_INPUTS:
        out[column] = out[column].round().astype("int64")
    out["neighbourhood"] = out["neighbourhood"].astype(object)
    return out


class DerivedFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Select and coerce the inputs, then add the derived features (pure, row-wise)."""

    def __init__(self, new_age_years: float = 2.0) -> None:
        self.new_age_years = new_age_years

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:  # noqa: N803
        coerce_features(X)
        self.n_features_in_ = len(FEATURE_COLUMNS)
        self.feature_names_in_ = np.asarray(FEATURE_COLUMNS, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        frame = coerce_features(X)
        rooms = frame["bedrooms"] + frame["bathrooms"]
        frame["area_per_room"] = frame["area"] / np.maximum(rooms, 1.0)
        frame["bathroom_ratio"] = frame["bathrooms"] / np.maximum(frame["bedrooms"], 1.0)
        frame["age_squared"] = frame["age"] ** 2
        frame["total_rooms"] = rooms
        frame["is_new"] = (frame["age"] <= self.new_age_years).astype(float)
        return frame

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray([*FEATURE_COLUMNS, *DERIVED_FEATURES], dtype=object)


class NeighbourhoodEncoder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One-hot over the neighbourhoods seen in ``fit`` plus one explicit *unknown* column.

    A value never seen in training sets only the unknown column; it is never mapped to a known
    neighbourhood (nor silently to all zeros).
    """

    def fit(self, X: Any, y: Any = None) -> NeighbourhoodEncoder:  # noqa: N803
        values = _column(X)
        self.categories_ = sorted({v for v in values if v != UNKNOWN_NEIGHBOURHOOD})
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        values = _column(X)
        index = {name: i for i, name in enumerate(self.categories_)}
        unknown = len(self.categories_)
        positions = np.fromiter((index.get(v, unknown) for v in values), dtype=np.int64)
        out = np.zeros((len(values), unknown + 1), dtype=float)
        out[np.arange(len(values)), positions] = 1.0
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = [f"neighbourhood={c}" for c in self.categories_]
        return np.asarray([*names, f"neighbourhood={UNKNOWN_NEIGHBOURHOOD}"], dtype=object)


def _column(X: Any) -> list[str]:  # noqa: N803
    if isinstance(X, pd.DataFrame):
        series = X.iloc[:, 0]
    elif isinstance(X, pd.Series):
        series = X
    else:
        series = pd.Series(np.asarray(X, dtype=object).reshape(len(X), -1)[:, 0])
    return [str(v).strip() for v in series.tolist()]


def build_feature_pipeline(estimator: Any, *, new_age_years: float = 2.0) -> Pipeline:
    """``derive -> encode -> model``: the whole model, from raw input columns to price."""
    numeric = [*NUMERIC_INPUTS, *DERIVED_FEATURES]
    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", numeric),
            ("neighbourhood", NeighbourhoodEncoder(), list(CATEGORICAL_INPUTS)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("derive", DerivedFeatures(new_age_years=new_age_years)),
            ("encode", encode),
            ("model", estimator),
        ]
    )
