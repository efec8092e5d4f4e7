"""Typed errors of the predictor service::

PredictorError
├── ModelLoadError            the champion could not be resolved or loaded
├── NoChampionError           (transient) nothing served yet: retried / answered no_champion
├── PredictionFailedError     (permanent) the model raised on these inputs
├── InvalidRecordError        (permanent) not the topic's event: dead-lettered
└── UnknownReplyTopicError    (permanent) the reply topic does not exist: dead-lettered
"""

from __future__ import annotations

from valora_messaging import PermanentError, TransientError

__all__ = [
    "InvalidRecordError",
    "ModelLoadError",
    "NoChampionError",
    "PredictionFailedError",
    "PredictorError",
    "UnknownReplyTopicError",
]


class PredictorError(Exception):
    """Base class of predictor errors."""


class ModelLoadError(PredictorError):
    """The champion (or a promoted version) could not be resolved or loaded from MLflow."""


class NoChampionError(PredictorError, TransientError):
    """No champion is loaded yet: requests get an error reply, listings are redelivered."""


class PredictionFailedError(PredictorError, PermanentError):
    """The model raised on these inputs: a request is answered ``prediction_failed``; a streamed
    batch is split until the listing the model fails on is alone, and that one dead-lettered."""


class InvalidRecordError(PredictorError, PermanentError):
    """A consumed record that is not the expected event (dead-lettered)."""


class UnknownReplyTopicError(PredictorError, PermanentError):
    """A request names a reply topic that does not exist (dead-lettered, never retried)."""
