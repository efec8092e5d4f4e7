"""Typed errors of the ML library."""

from __future__ import annotations

__all__ = ["DriftSpecError", "MlError"]


class MlError(Exception):
    """Base class of valora_ml errors."""


class DriftSpecError(MlError, ValueError):
    """A drift description that cannot be parsed or applied."""
