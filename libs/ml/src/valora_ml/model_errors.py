"""Typed errors of the model-side modules (features, conformal intervals, profiles, pyfunc)."""

from __future__ import annotations

from valora_ml.errors import MlError

__all__ = ["CalibrationError", "FeatureError", "ModelFormatError"]


class FeatureError(MlError, ValueError):
    """Input that the feature pipeline cannot turn into features (missing or bad columns)."""


class CalibrationError(MlError, ValueError):
    """Too few calibration rows for the requested interval level."""


class ModelFormatError(MlError):
    """A logged model lacks the Valora metadata (interval half-width, profile)."""
