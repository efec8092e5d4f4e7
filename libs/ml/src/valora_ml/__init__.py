"""Valora ML: synthetic listings, feature pipeline, conformal intervals, metrics, profiles, and
the MLflow price model."""

from valora_ml.errors import DriftSpecError, MlError

__all__ = ["DriftSpecError", "MlError"]
