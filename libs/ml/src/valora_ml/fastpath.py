"""A compiled serving path for the feature pipeline: plain numpy, checked against the pipeline.

scikit-learn's ``Pipeline`` and ``ColumnTransformer`` cost milliseconds per call whatever the
batch size (DataFrame building, column selection, validation), which dwarfs a linear or tree
model's own prediction of a few rows. :func:`compile_pipeline` reads the fitted pipeline
(``derive -> encode -> model``, as :func:`~valora_ml.features.build_feature_pipeline` builds it)
and returns a :class:`CompiledPipeline` that computes the same feature matrix with the same
functions (:func:`~valora_ml.features.derived_columns`, :func:`~valora_ml.features.one_hot`) and
hands it to the fitted estimator; a boosted-tree estimator, and the interval's own boosted models,
are walked in numpy (:mod:`valora_ml.trees`: a one-house valuation with the trainer's adaptive
interval went from about 4 ms to 0.3 ms of CPU).

Serving must never skew from training, so compiling is conservative: any pipeline of another
shape is not compiled (``None``: the caller keeps ``pipeline.predict``), and a compiled path
must reproduce ``pipeline.predict`` (and, given an interval model, its interval bounds on the
pipeline's encoded matrix) on a probe covering every known neighbourhood, an unknown one and,
for a market-time model, dates across two decades and a row without a date, or it is discarded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import FunctionTransformer

from valora_ml.features import (
    DERIVED_FEATURES,
    MARKET_TIME_FEATURE,
    NUMERIC_INPUTS,
    TIME_COLUMN,
    UNKNOWN_NEIGHBOURHOOD,
    DerivedFeatures,
    FeatureInput,
    NeighbourhoodEncoder,
    derived_columns,
    input_columns,
    one_hot,
)
from valora_ml.intervals import IntervalModel
from valora_ml.trees import compile_interval, compile_trees

__all__ = ["CompiledPipeline", "compile_pipeline", "probe_frame"]

logger = logging.getLogger(__name__)
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
_NUMERIC_FEATURES = frozenset((*NUMERIC_INPUTS, MARKET_TIME_FEATURE, *DERIVED_FEATURES))
_PROBE_NOW = datetime(2031, 7, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Block:
    """One block of the encoded matrix: numeric columns by name, or the neighbourhood one-hot."""

    numeric: tuple[str, ...] = ()
    categories: tuple[str, ...] | None = None


class CompiledPipeline:
    """The fitted pipeline's features in numpy, then its estimator (see the module docstring)."""

    def __init__(
        self,
        *,
        estimator: Any,
        new_age_years: float,
        blocks: Sequence[_Block],
        market_time: bool = False,
        interval: IntervalModel | None = None,
    ) -> None:
        self._estimator = estimator
        self._new_age_years = new_age_years
        self._blocks = tuple(blocks)
        self.market_time = market_time
        self.interval = interval
        """The interval with its own models compiled (``None``: the model's interval as is)."""

    def with_trees(self, interval: IntervalModel | None) -> CompiledPipeline:
        """This pipeline with its boosted trees (estimator and ``interval``'s models) compiled
        to numpy where :func:`~valora_ml.trees.compile_trees` verifies them."""
        n_features = int(getattr(self._estimator, "n_features_in_", 0))
        estimator = compile_trees(self._estimator, n_features=n_features) if n_features else None
        return CompiledPipeline(
            estimator=estimator or self._estimator,
            new_age_years=self._new_age_years,
            blocks=self._blocks,
            market_time=self.market_time,
            interval=compile_interval(interval) if interval is not None else None,
        )

    def inputs(self, columns: FeatureInput, *, now: datetime | None = None) -> dict[str, Any]:
        """The parsed input columns (:func:`~valora_ml.features.input_columns`), with market
        time when the model has it (rows without a date: ``now``)."""
        return input_columns(columns, market_time=self.market_time, now=now)

    def encode(self, inputs: dict[str, Any]) -> FloatArray:
        """The encoded feature matrix of parsed ``inputs`` (see :meth:`inputs`)."""
        numeric = dict(inputs)
        neighbourhoods = numeric.pop("neighbourhood").tolist()
        numeric.update(derived_columns(numeric, new_age_years=self._new_age_years))
        parts: list[np.ndarray[Any, Any]] = []
        for block in self._blocks:
            if block.categories is not None:
                parts.append(one_hot(neighbourhoods, block.categories))
            else:
                parts.append(np.column_stack([numeric[c] for c in block.numeric]))
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def features(self, columns: FeatureInput, *, now: datetime | None = None) -> FloatArray:
        """The encoded feature matrix of ``columns`` (a DataFrame or a mapping of sequences
        holding the six input columns, and optionally the date column)."""
        return self.encode(self.inputs(columns, now=now))

    def predict_matrix(self, matrix: FloatArray) -> FloatArray:
        """Prices of an encoded matrix (see :meth:`encode`)."""
        return np.asarray(self._estimator.predict(matrix), dtype=float)

    def predict(self, columns: FeatureInput, *, now: datetime | None = None) -> FloatArray:
        """Prices, as ``pipeline.predict`` would give them."""
        return self.predict_matrix(self.features(columns, now=now))


def compile_pipeline(
    pipeline: Any, *, interval: IntervalModel | None = None
) -> CompiledPipeline | None:
    """A :class:`CompiledPipeline` equivalent to ``pipeline`` (prices, and ``interval``'s
    bounds when given), or ``None`` (use the pipeline)."""
    try:
        compiled, categories = _compile(pipeline)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        logger.info("feature pipeline not compiled", extra={"reason": str(exc)[:200]})
        return None
    if compiled is None:
        return None
    compiled = compiled.with_trees(interval)
    probe = probe_frame(categories, market_time=compiled.market_time)
    try:
        expected, actual = _reference(pipeline, probe, interval), _fast(compiled, probe, interval)
    except Exception as exc:  # a pipeline that cannot predict the probe: keep it as it is
        logger.warning("compiled path not verified", extra={"reason": str(exc)[:200]})
        return None
    for want, got in zip(expected, actual, strict=True):
        if want.shape != got.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-6):
            logger.warning("compiled path differs from the pipeline: not used")
            return None
    return compiled


def _reference(
    pipeline: Any, probe: pd.DataFrame, interval: IntervalModel | None
) -> list[FloatArray]:
    price = np.asarray(pipeline.predict(probe), dtype=float)
    if interval is None:
        return [price]
    matrix = np.asarray(pipeline[:-1].transform(probe), dtype=float)
    return [price, *interval.bounds(matrix, price)]


def _fast(
    compiled: CompiledPipeline, probe: pd.DataFrame, interval: IntervalModel | None
) -> list[FloatArray]:
    if compiled.market_time:  # the last row's date left out: the fast path fills in "now"
        probe = probe.assign(**{TIME_COLUMN: [*probe[TIME_COLUMN].iloc[:-1], None]})
    matrix = compiled.features(probe, now=_PROBE_NOW)
    price = compiled.predict_matrix(matrix)
    fast = compiled.interval or interval
    return [price] if fast is None else [price, *fast.bounds(matrix, price)]


def _compile(pipeline: Any) -> tuple[CompiledPipeline | None, tuple[str, ...]]:
    steps = getattr(pipeline, "named_steps", None)
    if steps is None or list(steps) != ["derive", "encode", "model"]:
        return None, ()
    derive, encode, estimator = steps["derive"], steps["encode"], steps["model"]
    if type(derive) is not DerivedFeatures or getattr(encode, "sparse_output_", False):
        return None, ()
    blocks: list[_Block] = []
    categories: tuple[str, ...] = ()
    for _name, transformer, selected in encode.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        cols = tuple(str(c) for c in selected)
        if _is_passthrough(transformer):
            if not set(cols) <= _NUMERIC_FEATURES:
                return None, ()
            blocks.append(_Block(numeric=cols))
        elif type(transformer) is NeighbourhoodEncoder and cols == ("neighbourhood",):
            categories = tuple(str(c) for c in transformer.categories_)
            blocks.append(_Block(categories=categories))
        else:
            return None, ()
    if not blocks:
        return None, ()
    compiled = CompiledPipeline(
        estimator=estimator,
        new_age_years=float(derive.new_age_years),
        blocks=blocks,
        market_time=bool(getattr(derive, "market_time", False)),
    )
    return compiled, categories


def _is_passthrough(transformer: Any) -> bool:
    """``"passthrough"``, which a fitted ColumnTransformer holds as an identity transformer."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return type(transformer) is FunctionTransformer and transformer.func is None


def probe_frame(categories: Sequence[str], *, market_time: bool = False) -> pd.DataFrame:
    """Rows across every known neighbourhood and an unknown one, with varied numbers
    (including a new house, a studio and an age at the is-new boundary); with ``market_time``
    dates from 2003 to 2031 in :data:`~valora_ml.features.TIME_COLUMN`, the last one the probe's
    fixed "now" (the compiled path is given that row without a date and that "now")."""
    names = [*categories, UNKNOWN_NEIGHBOURHOOD + "probe"]
    n = max(len(names), 8)
    i = np.arange(n, dtype=float)
    frame = pd.DataFrame(
        {
            "area": 35.0 + 37.5 * i,
            "bedrooms": (i % 6).astype(int),
            "bathrooms": 1 + (i % 4).astype(int),
            "age": np.where(i % 3 == 0, 2.0, 1.5 * i),
            "garage": (i % 3).astype(int),
            "neighbourhood": [names[k % len(names)] for k in range(n)],
        }
    )
    if market_time:
        dates: list[datetime | None] = [
            datetime(2003 + (7 * k) % 29, 1 + k % 12, 1 + k % 28, tzinfo=UTC) for k in range(n)
        ]
        dates[-1] = _PROBE_NOW  # what the fast path fills in for a missing date
        frame[TIME_COLUMN] = dates
    return frame
