"""The served model behind a small protocol (its MLflow loader:
:mod:`valora_predictor.adapters.mlflow_models`).

Everything else in the predictor sees only :class:`ModelHandle` (tests pass a fake). The MLflow
loader follows the trainer's convention (:mod:`valora_ml.pricemodel`): the champion is
``models:/<name>@champion``, a pyfunc :class:`~valora_ml.pricemodel.PriceModel` holding the
feature pipeline, its interval model and its training ranges. A handle values a batch with
:meth:`PriceModel.value <valora_ml.pricemodel.PriceModel.value>`: prices, each house's interval
its out-of-range warnings and its expected absolute error (the model's error model, if any)
from one vectorised pass over the compiled feature matrix. Any
other pyfunc gets the metadata's constant half-width and no range warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from valora_ml.features import FEATURE_COLUMNS, FeatureInput
from valora_ml.pricemodel import PriceModel
from valora_ml.ranges import RowWarnings
from valora_ml.registry_ref import ModelRef

__all__ = [
    "FeatureColumns",
    "FloatArray",
    "ModelHandle",
    "ModelLoader",
    "ModelOutput",
    "ModelRef",
    "PyfuncModelHandle",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
FeatureColumns = FeatureInput
"""The six English input columns by name (a dict of lists, or a DataFrame)."""
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutput:
    """Vectorised predictions: one price, interval bound and warning tuple per input row."""

    price: FloatArray
    lower: FloatArray
    upper: FloatArray
    warnings: Sequence[RowWarnings] = ()
    """Per row, one message per input outside the training range (empty: none, or no ranges)."""
    expected_error: FloatArray | None = None
    """Per row, the model's estimate of the absolute error (NaN or ``None``: no error model)."""


class ModelHandle(Protocol):
    """A loaded model version, ready to predict."""

    @property
    def ref(self) -> ModelRef: ...

    @property
    def level(self) -> float:
        """Nominal coverage of the interval (e.g. 0.9)."""
        ...

    @property
    def known_neighbourhoods(self) -> frozenset[str] | None:
        """Neighbourhoods seen in training (``None``: unknown, no warning is given)."""
        ...

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        """Prices, interval bounds, warnings and expected errors for the six English feature
        columns and the optional ``listed_at`` (a row without a date is valued now); with
        ``bounds_only``, prices and bounds alone (all a shadowing challenger's answer needs)."""
        ...


class ModelLoader(Protocol):
    """Resolves aliases (``champion``, ``challenger``) and loads versions (blocking: call from
    a thread)."""

    def resolve_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version ``name@alias`` points at (``None``: no such alias)."""
        ...

    def load(self, ref: ModelRef, *, expected_sha256: str | None = None) -> ModelHandle:
        """Load ``ref`` after verifying its artifact against ``expected_sha256`` (the digest
        announced in ``models.promoted.v1``), else its recorded tag; raises
        :class:`~valora_ml.integrity.ModelIntegrityError` before deserialising on a mismatch."""
        ...


class PyfuncModelHandle:
    """A :class:`PriceModel` (fast path: its pipeline) or any pyfunc plus metadata interval."""

    def __init__(
        self,
        *,
        ref: ModelRef,
        pyfunc: Any,
        half_width: float,
        level: float,
        known_neighbourhoods: Collection[str] | None,
    ) -> None:
        self._ref = ref
        self._pyfunc = pyfunc
        self._half_width = half_width
        self._level = level
        self._known = frozenset(known_neighbourhoods) if known_neighbourhoods else None
        try:
            python_model = pyfunc.unwrap_python_model()
        except Exception:  # not a python-function model: use the generic pyfunc predict
            python_model = None
        self._price_model = python_model if isinstance(python_model, PriceModel) else None

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def level(self) -> float:
        return self._level

    @property
    def known_neighbourhoods(self) -> frozenset[str] | None:
        return self._known

    def predict(self, columns: FeatureColumns, *, bounds_only: bool = False) -> ModelOutput:
        if self._price_model is not None:  # its compiled (verified) path, else its pipeline
            v = self._price_model.value(columns, bounds_only=bounds_only)
            return ModelOutput(
                price=v.price,
                lower=v.lower,
                upper=v.upper,
                warnings=v.warnings,
                expected_error=v.expected_error,
            )
        frame = pd.DataFrame({c: columns[c] for c in FEATURE_COLUMNS})
        price = np.asarray(self._pyfunc.predict(frame), dtype=float).reshape(-1)
        return ModelOutput(
            price=price, lower=price - self._half_width, upper=price + self._half_width
        )


def _known_neighbourhoods(price_model: PriceModel | None) -> list[str] | None:
    if price_model is None:
        return None
    try:
        encoder = price_model.pipeline.named_steps["encode"].named_transformers_["neighbourhood"]
        return [str(c) for c in encoder.categories_]
    except (AttributeError, KeyError, TypeError):
        profile = price_model.reference_profile
        if profile is not None and "neighbourhood" in profile.categorical:
            return list(profile.categorical["neighbourhood"].frequencies)
    return None
