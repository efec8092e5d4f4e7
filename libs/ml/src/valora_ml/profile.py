"""Reference profile of a model's training features and predictions (for the drift monitor).

Numeric columns get quantile cut points and the share of rows in each bin (so PSI / KS can bin
new data the same way) plus summary statistics; categorical columns get category frequencies.
Stored with every model version as ``reference_profile.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

from valora_ml.features import CATEGORICAL_INPUTS, NUMERIC_INPUTS

__all__ = [
    "PROFILE_FILENAME",
    "CategoricalProfile",
    "NumericProfile",
    "ReferenceProfile",
    "build_reference_profile",
    "profile_categorical",
    "profile_numeric",
]

PROFILE_FILENAME = "reference_profile.json"


class NumericProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cuts: list[float] = Field(description="Inner quantile cut points (bins = len(cuts) + 1).")
    frequencies: list[float] = Field(description="Share of rows per bin (sums to 1).")
    mean: float
    std: float
    min: float
    max: float
    missing_rate: float = Field(ge=0, le=1)

    def bin_shares(self, values: ArrayLike) -> list[float]:
        """Shares of ``values`` in this profile's bins (same binning as the reference)."""
        return _shares(np.asarray(values, dtype=float), self.cuts)


class CategoricalProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    frequencies: dict[str, float] = Field(description="Category -> share of rows.")
    missing_rate: float = Field(ge=0, le=1)


class ReferenceProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    n_rows: int = Field(ge=0)
    bins: int = Field(ge=2)
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    prediction: NumericProfile


def _shares(values: np.ndarray[Any, Any], cuts: list[float]) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [0.0] * (len(cuts) + 1)
    counts = np.bincount(
        np.searchsorted(np.asarray(cuts), finite, side="right"), minlength=len(cuts) + 1
    )
    return [float(c) for c in counts / finite.size]


def profile_numeric(values: ArrayLike, *, bins: int = 10) -> NumericProfile:
    """Quantile bins (duplicate cut points merged) and summary statistics of ``values``."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    missing = 1.0 - finite.size / array.size if array.size else 0.0
    if finite.size == 0:
        return NumericProfile(
            cuts=[], frequencies=[0.0], mean=0.0, std=0.0, min=0.0, max=0.0, missing_rate=missing
        )
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    cuts = sorted({float(q) for q in quantiles})
    return NumericProfile(
        cuts=cuts,
        frequencies=_shares(finite, cuts),
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(finite.min()),
        max=float(finite.max()),
        missing_rate=missing,
    )


def profile_categorical(values: Iterable[Any]) -> CategoricalProfile:
    series = pd.Series(list(values), dtype=object)
    present = series.dropna().astype(str)
    missing = 1.0 - len(present) / len(series) if len(series) else 0.0
    shares = present.value_counts(normalize=True).sort_index()
    return CategoricalProfile(
        frequencies={str(k): float(v) for k, v in shares.items()}, missing_rate=missing
    )


def build_reference_profile(
    features: pd.DataFrame, predictions: ArrayLike, *, bins: int = 10
) -> ReferenceProfile:
    """Profile of the input columns of ``features`` and of the model's ``predictions``."""
    return ReferenceProfile(
        n_rows=len(features),
        bins=bins,
        numeric={
            c: profile_numeric(features[c].to_numpy(dtype=float), bins=bins) for c in NUMERIC_INPUTS
        },
        categorical={c: profile_categorical(features[c].tolist()) for c in CATEGORICAL_INPUTS},
        prediction=profile_numeric(predictions, bins=bins),
    )
