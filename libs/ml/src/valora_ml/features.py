"""The feature pipeline shared by the trainer and the predictor (saved inside every model).

One scikit-learn :class:`~sklearn.pipeline.Pipeline` turns a DataFrame with the six English
input columns into model features: the numeric inputs, derived features (area per room, bathroom
ratio, age², total rooms, is-new) and a one-hot neighbourhood with an explicit *unknown* column,
so a neighbourhood never seen in training is a known "unknown", never silently mapped to an
existing one. The estimator is the pipeline's last step, so serving cannot skew from training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "FeatureInput",
    "NeighbourhoodEncoder",
    "build_feature_pipeline",
    "coerce_features",
    "contract_frame",
    "derived_columns",
    "input_columns",
    "numeric_column",
    "one_hot",
    "text_column",
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
FeatureInput = pd.DataFrame | Mapping[str, Any]
"""The six input columns by name: a DataFrame, or a mapping of sequences (e.g. dict of lists)."""


def numeric_column(values: Any, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One numeric input as a float array (:class:`FeatureError` if it is not numeric)."""
    try:
        return np.asarray(values, dtype=float)  # the common case: numbers already
    except (TypeError, ValueError):
        pass
    try:
        return np.asarray(pd.to_numeric(values, errors="raise"), dtype=float)
    except (TypeError, ValueError) as exc:
        raise FeatureError(f"column {column!r} is not numeric: {exc}") from exc


def text_column(values: Any) -> list[str]:
    """The neighbourhood input as stripped strings."""
    return [str(v).strip() for v in values]


def input_columns(frame: FeatureInput) -> dict[str, Any]:
    """The six input columns as arrays: numerics as float, the neighbourhood as stripped str
    (:class:`FeatureError` when one is missing or not numeric)."""
    missing = [c for c in FEATURE_COLUMNS if c not in frame]
    if missing:
        raise FeatureError(f"missing feature columns: {', '.join(missing)}")
    columns: dict[str, Any] = {c: numeric_column(frame[c], c) for c in NUMERIC_INPUTS}
    columns["neighbourhood"] = np.asarray(text_column(frame["neighbourhood"]), dtype=object)
    return columns


def coerce_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The six input columns in canonical order: numerics as float, neighbourhood as str."""
    return pd.DataFrame(input_columns(frame), index=frame.index)


def derived_columns(
    columns: Mapping[str, np.ndarray[Any, np.dtype[np.float64]]], *, new_age_years: float
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """The derived features (row-wise, pure numpy) from the numeric inputs, in
    :data:`DERIVED_FEATURES` order. The one definition the pipeline and the compiled serving
    path (:mod:`valora_ml.fastpath`) both use."""
    bedrooms, bathrooms, age = columns["bedrooms"], columns["bathrooms"], columns["age"]
    rooms = bedrooms + bathrooms
    return {
        "area_per_room": columns["area"] / np.maximum(rooms, 1.0),
        "bathroom_ratio": bathrooms / np.maximum(bedrooms, 1.0),
        "age_squared": age**2,
        "total_rooms": rooms,
        "is_new": (age <= new_age_years).astype(float),
    }


def one_hot(values: Sequence[str], categories: Sequence[str]) -> np.ndarray[Any, Any]:
    """One column per category plus a last *unknown* column (values never seen in training)."""
    index = {name: i for i, name in enumerate(categories)}
    unknown = len(categories)
    positions = np.fromiter((index.get(v, unknown) for v in values), dtype=np.int64)
    out = np.zeros((len(values), unknown + 1), dtype=float)
    out[np.arange(len(values)), positions] = 1.0
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
        columns = input_columns(X)
        columns.update(derived_columns(columns, new_age_years=self.new_age_years))
        return pd.DataFrame(columns, index=X.index)

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
        return one_hot(_column(X), self.categories_)

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
    return text_column(series.tolist())


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
