"""Valora ML: synthetic listings generator."""

from valora_ml.errors import DriftSpecError, MlError

__all__ = ["DriftSpecError", "MlError"]
