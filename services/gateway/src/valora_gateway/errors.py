"""Typed errors of the gateway; each maps to one HTTP status and a JSON body."""

from __future__ import annotations

__all__ = [
    "BatchJobNotFoundError",
    "BrokerUnavailableError",
    "GatewayError",
    "InvalidListingError",
    "InvalidUploadError",
    "NoChampionError",
    "PayloadTooLargeError",
    "PredictionNotFoundError",
    "PredictorError",
    "ReplyTimeoutError",
    "TooManyItemsError",
    "UnauthorizedError",
]


class GatewayError(Exception):
    """Base class: ``status`` is the HTTP status, ``code`` a stable machine-readable name."""

    status = 500
    code = "internal_error"


class ReplyTimeoutError(GatewayError):
    """The predictor did not answer in time."""

    status = 504
    code = "predictor_timeout"


class NoChampionError(GatewayError):
    """The predictor has no champion model to serve yet."""

    status = 503
    code = "no_champion"


class BrokerUnavailableError(GatewayError):
    """Kafka could not take the request."""

    status = 503
    code = "broker_unavailable"


class PredictorError(GatewayError):
    """The predictor answered with an error."""

    status = 502
    code = "predictor_error"


class PredictionNotFoundError(GatewayError):
    status = 404
    code = "prediction_not_found"


class BatchJobNotFoundError(GatewayError):
    status = 404
    code = "batch_job_not_found"


class TooManyItemsError(GatewayError):
    status = 413
    code = "too_many_items"


class PayloadTooLargeError(GatewayError):
    status = 413
    code = "payload_too_large"


class InvalidUploadError(GatewayError):
    status = 422
    code = "invalid_upload"


class InvalidListingError(GatewayError):
    """A listing body that cannot be encoded as JSON (e.g. lone surrogates, huge integers)."""

    status = 422
    code = "validation_error"


class UnauthorizedError(GatewayError):
    status = 401
    code = "unauthorized"
