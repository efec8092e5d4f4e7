"""The feature pipeline shared by the trainer and the predictor (saved inside every model).

One scikit-learn :class:`~sklearn.pipeline.Pipeline` turns a DataFrame with the six English
input columns into model features: the numeric inputs, derived features (area per room, bathroom
ratio, age², total rooms, is-new) and a one-hot neighbourhood with an explicit *unknown* column,
so a neighbourhood never seen in training is a known "unknown", never silently mapped to an
existing one. The estimator is the pipeline's last step, so serving cannot skew from training.

A model trained on dated rows (``build_feature_pipeline(..., market_time=True)``) also learns a
market-time term: :data:`MARKET_TIME_FEATURE`, the months from :data:`MARKET_EPOCH` to the date
in :data:`TIME_COLUMN` (the listing or sale date of a training row). At serving the column is
optional: a row without a date is valued at "now" (the prediction time), never at the average
date of the training rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
    "MARKET_EPOCH",
    "MARKET_TIME_FEATURE",
    "NUMERIC_INPUTS",
    "TIME_COLUMN",
    "UNKNOWN_NEIGHBOURHOOD",
    "DerivedFeatures",
    "FeatureInput",
    "NeighbourhoodEncoder",
    "build_feature_pipeline",
    "coerce_features",
    "contract_frame",
    "derived_columns",
    "input_columns",
    "market_months",
    "numeric_column",
    "one_hot",
    "parse_dates",
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
TIME_COLUMN = "listed_at"
"""Optional input: the date a price refers to (listing or sale date; missing: valued now)."""
MARKET_TIME_FEATURE = "market_months"
"""Months from :data:`MARKET_EPOCH` to the row's :data:`TIME_COLUMN` (market-time models only)."""
MARKET_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_SECONDS_PER_MONTH = 365.2425 * 86_400 / 12
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


def market_months(
    values: Any, *, n: int, now: datetime | None = None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Months since :data:`MARKET_EPOCH` of each date in ``values`` (datetimes or ISO 8601
    strings; naive ones are UTC). ``None``/missing dates, or ``values`` itself ``None`` (no
    column), are ``now`` (default: the current time). :class:`FeatureError` on a bad date."""
    instant = now or datetime.now(UTC)
    now_months = (pd.Timestamp(instant).tz_convert(UTC) - MARKET_EPOCH).total_seconds()
    now_months /= _SECONDS_PER_MONTH
    if values is None:
        return np.full(n, now_months, dtype=float)
    stamps = parse_dates(values)
    seconds = (stamps - MARKET_EPOCH).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    months = seconds / _SECONDS_PER_MONTH
    return np.where(np.isnan(months), now_months, months)


def parse_dates(values: Any) -> pd.Series:
    """Dates (datetimes or ISO 8601 strings, naive ones UTC) as a UTC series, missing ones NaT
    (:class:`FeatureError` on a value that is not a date)."""
    try:
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"column {TIME_COLUMN!r} holds a value that is not a date: {exc}"
        ) from exc


def input_columns(
    frame: FeatureInput, *, market_time: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """The six input columns as arrays: numerics as float, the neighbourhood as stripped str
    (:class:`FeatureError` when one is missing or not numeric); with ``market_time`` also
    :data:`MARKET_TIME_FEATURE` from the optional :data:`TIME_COLUMN` (:func:`market_months`)."""
    missing = [c for c in FEATURE_COLUMNS if c not in frame]
    if missing:
        raise FeatureError(f"missing feature columns: {', '.join(missing)}")
    columns: dict[str, Any] = {c: numeric_column(frame[c], c) for c in NUMERIC_INPUTS}
    columns["neighbourhood"] = np.asarray(text_column(frame["neighbourhood"]), dtype=object)
    if market_time:
        dates = frame.get(TIME_COLUMN)
        columns[MARKET_TIME_FEATURE] = market_months(dates, n=len(columns["area"]), now=now)
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
    """Select and coerce the inputs, then add the derived features (pure, row-wise; with
    ``market_time`` also :data:`MARKET_TIME_FEATURE`)."""

    def __init__(self, new_age_years: float = 2.0, market_time: bool = False) -> None:
        self.new_age_years = new_age_years
        self.market_time = market_time

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:  # noqa: N803
        coerce_features(X)
        self.n_features_in_ = len(FEATURE_COLUMNS)
        self.feature_names_in_ = np.asarray(FEATURE_COLUMNS, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        # getattr: a model pickled before market time existed has no such attribute
        columns = input_columns(X, market_time=getattr(self, "market_time", False))
        columns.update(derived_columns(columns, new_age_years=self.new_age_years))
        return pd.DataFrame(columns, index=X.index)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        time = [MARKET_TIME_FEATURE] if getattr(self, "market_time", False) else []
        return np.asarray([*FEATURE_COLUMNS, *time, *DERIVED_FEATURES], dtype=object)


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


def build_feature_pipeline(
    estimator: Any, *, new_age_years: float = 2.0, market_time: bool = False
) -> Pipeline:
    """``derive -> encode -> model``: the whole model, from raw input columns to price
    (``market_time``: also the months since :data:`MARKET_EPOCH` of :data:`TIME_COLUMN`)."""
    time = [MARKET_TIME_FEATURE] if market_time else []
    numeric = [*NUMERIC_INPUTS, *time, *DERIVED_FEATURES]
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
            ("derive", DerivedFeatures(new_age_years=new_age_years, market_time=market_time)),
            ("encode", encode),
            ("model", estimator),
        ]
    )
