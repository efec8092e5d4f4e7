"""The logged price model: an MLflow pyfunc wrapping the feature pipeline and its interval.

``predict(frame)`` takes a DataFrame with the six English feature columns and returns prices;
``predict(frame, params={"interval": True})`` returns a DataFrame ``price, lower, upper`` (the
split-conformal interval at :attr:`PriceModel.level`). The half-width and the level are also in
the MLmodel metadata (key ``valora``), and the drift reference profile ships inside the model
as the artifact ``reference_profile`` (loaded into :attr:`PriceModel.reference_profile`).

Serialisation: MLflow pickles a ``PythonModel`` with cloudpickle. That is deliberate: models are
produced only by Valora's own trainer and read from Valora's own registry (a trusted source), and
the pipeline holds Valora's transformer classes, which skops would need listed one by one as
trusted types. Loading needs ``valora_ml`` importable, which every Valora consumer has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from valora_ml.conformal import interval_bounds
from valora_ml.fastpath import CompiledPipeline, compile_pipeline
from valora_ml.features import FEATURE_COLUMNS, FeatureInput, coerce_features
from valora_ml.model_errors import ModelFormatError
from valora_ml.profile import PROFILE_FILENAME, ReferenceProfile

__all__ = [
    "CHAMPION_ALIAS",
    "METADATA_KEY",
    "PROFILE_ARTIFACT",
    "IntervalSpec",
    "PriceModel",
    "interval_from_metadata",
    "model_metadata",
]

CHAMPION_ALIAS = "champion"
METADATA_KEY = "valora"
PROFILE_ARTIFACT = "reference_profile"


class PriceModel(PythonModel):
    """Feature pipeline + estimator, and the conformal half-width, as one pyfunc model."""

    def __init__(
        self, pipeline: Any, *, half_width: float, level: float, model_family: str
    ) -> None:
        self.pipeline = pipeline
        self.half_width = float(half_width)
        self.level = float(level)
        self.model_family = model_family
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
        return state

    def compile(self) -> bool:
        """Use the verified numpy path for predictions (:mod:`valora_ml.fastpath`); True if
        the pipeline compiled. Called on load; the pipeline itself stays the reference."""
        self._compiled = compile_pipeline(self.pipeline)
        return self._compiled is not None

    def predict_price(self, columns: FeatureInput) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Prices for ``columns``: a DataFrame, or a mapping of the six input columns."""
        compiled: CompiledPipeline | None = getattr(self, "_compiled", None)
        if compiled is not None:
            return compiled.predict(columns)
        frame = columns if isinstance(columns, pd.DataFrame) else pd.DataFrame(dict(columns))
        return np.asarray(self.pipeline.predict(coerce_features(frame)), dtype=float)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        price = self.predict_price(pd.DataFrame(model_input))
        if params and params.get("interval"):
            lower, upper = interval_bounds(price, self.half_width)
            return pd.DataFrame({"price": price, "lower": lower, "upper": upper})
        return price


class IntervalSpec:
    """Level and half-width of a model's interval, as read from its metadata."""

    def __init__(self, *, level: float, half_width: float) -> None:
        self.level = level
        self.half_width = half_width


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
