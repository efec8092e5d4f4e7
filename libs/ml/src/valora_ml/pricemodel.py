"""The logged price model: an MLflow pyfunc wrapping the feature pipeline and its interval.

``predict(frame)`` takes a DataFrame with the six English feature columns (and, for a
market-time model, the optional date column ``listed_at``: missing means "now") and returns
prices; ``predict(frame, params={"interval": True})`` returns a DataFrame ``price, lower,
upper`` at :attr:`PriceModel.level`, and ``params={"warnings": True}`` adds a ``warnings``
column (a list of messages per row, for inputs outside the training range). In process,
:meth:`PriceModel.value` returns the same as arrays (:class:`Valuation`), computed on the
compiled path (:mod:`valora_ml.fastpath`): one feature matrix feeds the price model and the
interval's models, vectorised. The interval is a fitted :class:`~valora_ml.intervals.
IntervalModel` (locally adaptive), or for models logged before it, ``price ± half_width``.
With an :class:`~valora_ml.error_model.ErrorModel` (direct loss estimation), the same pass also
gives each row's expected absolute error (:attr:`Valuation.expected_error`; NaN for models
logged without one).

The interval level and method, the training ranges and the market-time flag are also in the
MLmodel metadata (key ``valora``), and the drift reference profile ships inside the model as
the artifact ``reference_profile`` (loaded into :attr:`PriceModel.reference_profile`).

Serialisation: MLflow pickles a ``PythonModel`` with cloudpickle. That is deliberate: models are
produced only by Valora's own trainer and read from Valora's own registry (a trusted source), and
the pipeline holds Valora's transformer classes, which skops would need listed one by one as
trusted types. Loading needs ``valora_ml`` importable, which every Valora consumer has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from valora_ml.error_model import ErrorModel
from valora_ml.fastpath import CompiledPipeline, compile_pipeline
from valora_ml.features import (
    FEATURE_COLUMNS,
    TIME_COLUMN,
    FeatureInput,
    coerce_features,
    input_columns,
    parse_dates,
)
from valora_ml.intervals import ConstantInterval, IntervalModel
from valora_ml.model_errors import ModelFormatError
from valora_ml.profile import PROFILE_FILENAME, ReferenceProfile
from valora_ml.ranges import FeatureRanges, RowWarnings

__all__ = [
    "CHALLENGER_ALIAS",
    "CHAMPION_ALIAS",
    "METADATA_KEY",
    "PROFILE_ARTIFACT",
    "IntervalSpec",
    "PriceModel",
    "Valuation",
    "interval_from_metadata",
    "model_metadata",
    "valuation_metadata",
]

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
"""A gated version shadowing the champion: valued on live traffic, never answered."""
METADATA_KEY = "valora"
PROFILE_ARTIFACT = "reference_profile"
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Valuation:
    """One entry per input row: price, interval bounds, warnings (``()``: none) and the
    expected absolute error (NaN where the model has no error model; ``None``: not computed)."""

    price: FloatArray
    lower: FloatArray
    upper: FloatArray
    warnings: list[RowWarnings]
    expected_error: FloatArray | None = None


class PriceModel(PythonModel):
    """Feature pipeline + estimator, its interval and training ranges, as one pyfunc model.

    ``half_width`` is the constant interval of models without an ``interval`` model; with one,
    it is only the typical half-width, kept for readers of the metadata that predate adaptive
    intervals."""

    def __init__(
        self,
        pipeline: Any,
        *,
        half_width: float = 0.0,
        level: float,
        model_family: str,
        interval: IntervalModel | None = None,
        ranges: FeatureRanges | None = None,
        error_model: ErrorModel | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.half_width = float(half_width)
        self.level = float(level)
        self.model_family = model_family
        self.interval = interval
        self.ranges = ranges
        self.error_model = error_model
        self.reference_profile: ReferenceProfile | None = None

    def load_context(self, context: Any) -> None:
        path = (getattr(context, "artifacts", None) or {}).get(PROFILE_ARTIFACT)
        if path:
            text = Path(path).read_text(encoding="utf-8")
            self.reference_profile = ReferenceProfile.model_validate_json(text)
        self.compile()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_compiled", None)  # derived on load, never serialised
        state.pop("_compiled_error", None)
        return state

    @property
    def market_time(self) -> bool:
        """Whether the model learnt the market-time term (and reads ``listed_at``)."""
        steps = getattr(self.pipeline, "named_steps", {})
        return bool(getattr(steps.get("derive"), "market_time", False))

    def interval_model(self) -> IntervalModel:
        """The fitted interval, or the constant one of a model logged before adaptive ones."""
        interval: IntervalModel | None = getattr(self, "interval", None)
        return interval or ConstantInterval(level=self.level, half_width=self.half_width)

    def compile(self) -> bool:
        """Use the verified numpy path for prices and intervals (:mod:`valora_ml.fastpath`);
        True if the pipeline compiled. Called on load; the pipeline stays the reference."""
        self._compiled = compile_pipeline(self.pipeline, interval=self.interval_model())
        error_model = self.estimator_of_error()
        self._compiled_error = error_model.compiled() if error_model is not None else None
        return self._compiled is not None

    def estimator_of_error(self) -> ErrorModel | None:
        """The error model (direct loss estimation), ``None`` for models logged without one."""
        error_model: ErrorModel | None = getattr(self, "error_model", None)
        return error_model

    def expected_error(self, matrix: FloatArray, price: FloatArray) -> FloatArray:
        """Each row's expected absolute error (NaN everywhere when there is no error model)."""
        compiled: ErrorModel | None = getattr(self, "_compiled_error", None)
        error_model = compiled or self.estimator_of_error()
        if error_model is None:
            return np.full(len(price), np.nan)
        return error_model.expected(matrix, price)

    def predict_price(self, columns: FeatureInput, *, now: datetime | None = None) -> FloatArray:
        """Prices for ``columns``: a DataFrame, or a mapping of the input columns."""
        compiled: CompiledPipeline | None = getattr(self, "_compiled", None)
        if compiled is not None:
            return compiled.predict(columns, now=now)
        return np.asarray(self.pipeline.predict(self._frame(columns, now)), dtype=float)

    def features(self, columns: FeatureInput, *, now: datetime | None = None) -> FloatArray:
        """The encoded feature matrix the estimator and the interval's models see."""
        return self._encoded(columns, now)[1]

    def value(
        self, columns: FeatureInput, *, now: datetime | None = None, bounds_only: bool = False
    ) -> Valuation:
        """Prices, interval bounds, out-of-range warnings and expected errors for ``columns``
        (rows without a date are valued at ``now``, default the current time); with
        ``bounds_only``, prices and bounds alone (a shadowing challenger's answer)."""
        inputs, matrix = self._encoded(columns, now)
        compiled: CompiledPipeline | None = getattr(self, "_compiled", None)
        if compiled is not None:
            price = compiled.predict_matrix(matrix)
        else:
            price = np.asarray(self.pipeline[-1].predict(matrix), dtype=float)
        interval = compiled.interval if compiled is not None else None
        lower, upper = (interval or self.interval_model()).bounds(matrix, price)
        none: list[RowWarnings] = [()] * len(price)
        if bounds_only:
            return Valuation(price=price, lower=lower, upper=upper, warnings=none)
        ranges: FeatureRanges | None = getattr(self, "ranges", None)
        warnings = ranges.warnings(inputs) if ranges else none
        expected = self.expected_error(matrix, price)
        return Valuation(
            price=price, lower=lower, upper=upper, warnings=warnings, expected_error=expected
        )

    def _encoded(
        self, columns: FeatureInput, now: datetime | None
    ) -> tuple[dict[str, Any], FloatArray]:
        """Parsed inputs and the encoded matrix: compiled path, else the pipeline's steps."""
        compiled: CompiledPipeline | None = getattr(self, "_compiled", None)
        if compiled is not None:
            inputs = compiled.inputs(columns, now=now)
            return inputs, compiled.encode(inputs)
        frame = self._frame(columns, now)
        return input_columns(frame), np.asarray(self.pipeline[:-1].transform(frame), dtype=float)

    def _frame(self, columns: FeatureInput, now: datetime | None) -> pd.DataFrame:
        """The input columns for the pipeline, missing dates filled with ``now``."""
        frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(dict(columns))
        out = coerce_features(frame)
        if self.market_time:
            instant = pd.Timestamp(now or datetime.now(UTC))
            dates = frame[TIME_COLUMN] if TIME_COLUMN in frame else [None] * len(frame)
            out[TIME_COLUMN] = parse_dates(list(dates)).fillna(instant).to_numpy()
        return out

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        params = params or {}
        if not any(params.get(k) for k in ("interval", "warnings", "expected_error")):
            return self.predict_price(pd.DataFrame(model_input))
        valuation = self.value(pd.DataFrame(model_input))
        out = pd.DataFrame({"price": valuation.price})
        if params.get("interval"):
            out["lower"], out["upper"] = valuation.lower, valuation.upper
        if params.get("warnings"):
            out["warnings"] = [list(w) for w in valuation.warnings]
        if params.get("expected_error"):
            out["expected_error"] = valuation.expected_error
        return out


class IntervalSpec:
    """Level and half-width of a model's interval, as read from its metadata."""

    def __init__(self, *, level: float, half_width: float) -> None:
        self.level = level
        self.half_width = half_width


def valuation_metadata(model: PriceModel) -> dict[str, Any]:
    """The interval method, market-time flag and training ranges of ``model``, for the
    ``extra`` of :func:`model_metadata`."""
    interval = model.interval_model()
    error_model = model.estimator_of_error()
    return {
        "interval_method": interval.method,
        "error_model": error_model.target if error_model is not None else None,
        "market_time": model.market_time,
        "training_ranges": model.ranges.as_dict() if model.ranges else {},
    }


def model_metadata(
    *, half_width: float, level: float, model_family: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``metadata`` passed to ``log_model`` (kept JSON-simple for the MLmodel file)."""
    return {
        METADATA_KEY: {
            "conformal_half_width": float(half_width),
            "interval_level": float(level),
            "model_family": model_family,
            "feature_columns": list(FEATURE_COLUMNS),
            "reference_profile": f"artifacts/{PROFILE_FILENAME}",
            **json.loads(json.dumps(dict(extra or {}))),
        }
    }


def interval_from_metadata(metadata: Mapping[str, Any] | None) -> IntervalSpec:
    """Interval spec of a loaded model (``pyfunc_model.metadata.metadata``)."""
    section = (metadata or {}).get(METADATA_KEY)
    if not isinstance(section, Mapping):
        raise ModelFormatError(f"model metadata lacks the {METADATA_KEY!r} section")
    try:
        return IntervalSpec(
            level=float(section["interval_level"]),
            half_width=float(section["conformal_half_width"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"bad interval metadata: {exc}") from exc
