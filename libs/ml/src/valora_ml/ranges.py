"""The training range of each numeric input, and per-row warnings for values outside it.

Tree models extrapolate flat: a 5,000 m² house is valued like the largest house in training, and
the caller must be told. :func:`training_ranges` records ``[min, max]`` of every numeric input
over the rows a model was fitted on; :meth:`FeatureRanges.warnings` flags the rows of a batch
that fall outside, with one vectorised comparison over the whole batch (a Python loop touches
only the flagged rows, to format their messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from valora_ml.features import NUMERIC_INPUTS, FeatureInput, input_columns

__all__ = ["FeatureRanges", "RowWarnings", "range_warning", "training_ranges"]

RowWarnings = tuple[str, ...]
_NONE: RowWarnings = ()


def range_warning(feature: str, value: float, low: float, high: float) -> str:
    """The message for one feature of one row outside ``[low, high]``."""
    return (
        f"{feature} {value:g} is outside the training range [{low:g}, {high:g}]: "
        "the model has seen no such house, so the valuation is an extrapolation"
    )


@dataclass(frozen=True)
class FeatureRanges:
    """``feature -> (min, max)`` over the training rows (numeric inputs only)."""

    bounds: Mapping[str, tuple[float, float]]

    def as_dict(self) -> dict[str, list[float]]:
        """JSON-simple form (for the MLmodel metadata)."""
        return {name: [low, high] for name, (low, high) in self.bounds.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureRanges:
        return cls({str(k): (float(v[0]), float(v[1])) for k, v in data.items()})

    def warnings(self, inputs: Mapping[str, Any]) -> list[RowWarnings]:
        """Per row, one message per numeric input outside its range (``()``: none).
        ``inputs`` are parsed columns (:func:`~valora_ml.features.input_columns`)."""
        names = [name for name in self.bounds if name in inputs]
        if not names:
            return []
        values = np.column_stack([np.asarray(inputs[n], dtype=float) for n in names])
        low = np.array([self.bounds[n][0] for n in names])
        high = np.array([self.bounds[n][1] for n in names])
        outside = (values < low) | (values > high)
        out: list[RowWarnings] = [_NONE] * values.shape[0]
        for row in np.flatnonzero(outside.any(axis=1)).tolist():
            out[row] = tuple(
                range_warning(names[j], float(values[row, j]), float(low[j]), float(high[j]))
                for j in np.flatnonzero(outside[row]).tolist()
            )
        return out

    def check(self, columns: FeatureInput) -> list[RowWarnings]:
        """:meth:`warnings` of raw input columns (a DataFrame or a mapping of sequences)."""
        return self.warnings(input_columns(columns))


def training_ranges(frame: FeatureInput) -> FeatureRanges:
    """``[min, max]`` of each numeric input over the finite values of ``frame``."""
    inputs = input_columns(frame)
    bounds: dict[str, tuple[float, float]] = {}
    for name in NUMERIC_INPUTS:
        values = np.asarray(inputs[name], dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size:
            bounds[name] = (float(finite.min()), float(finite.max()))
    return FeatureRanges(bounds)
