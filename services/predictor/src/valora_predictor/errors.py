"""Typed errors of the predictor service."""

from __future__ import annotations

from valora_messaging import PermanentError, TransientError

__all__ = [
    "InvalidRecordError",
    "ModelLoadError",
    "NoChampionError",
    "PredictionFailedError",
    "PredictorError",
]


class PredictorError(Exception):
    """Base class of predictor errors."""


class ModelLoadError(PredictorError):
    """The champion (or a promoted version) could not be resolved or loaded from MLflow."""


class NoChampionError(PredictorError, TransientError):
    """No champion is loaded yet: requests get an error reply, listings are redelivered."""


class PredictionFailedError(PredictorError):
    """The model raised on a batch of inputs."""


class InvalidRecordError(PredictorError, PermanentError):
    """A consumed record that is not the expected event (dead-lettered)."""
