"""Typed errors of the gateway; ``code`` is the stable, machine-readable name in the JSON body.

The HTTP status of every code (these and the request-reply client's) is decided in one place,
:mod:`valora_gateway.entrypoints.http_errors`::

    GatewayError
    ├── NoChampionError          no_champion          (MLflow has no champion yet)
    ├── BrokerUnavailableError   broker_unavailable   (Kafka did not take the listings)
    ├── PredictionNotFoundError  prediction_not_found
    ├── BatchJobNotFoundError    batch_job_not_found
    ├── TooManyItemsError        too_many_items
    ├── PayloadTooLargeError     payload_too_large
    ├── InvalidUploadError       invalid_upload
    ├── InvalidListingError      validation_error     (a listing that cannot be encoded)
    │   └── ContractViolationError  validation_error  (a house that breaks the data contract)
    ├── ComparablesUnavailableError  comparables_unavailable
    ├── UnauthorizedError        unauthorized         (no API key, or one no scope knows)
    └── ForbiddenError           forbidden            (a key of another scope)

Failures of the predictor exchange are the client's own errors
(:class:`valora_messaging.request_reply.RequestReplyError`, decided by their ``code``).
"""

from __future__ import annotations

from collections.abc import Sequence

from valora_contracts import RuleViolation

__all__ = [
    "BatchJobNotFoundError",
    "BrokerUnavailableError",
    "ComparablesUnavailableError",
    "ContractViolationError",
    "ForbiddenError",
    "GatewayError",
    "InvalidListingError",
    "InvalidUploadError",
    "NoChampionError",
    "PayloadTooLargeError",
    "PredictionNotFoundError",
    "TooManyItemsError",
    "UnauthorizedError",
]


class GatewayError(Exception):
    """Base class; ``code`` names the error in the response body."""

    code = "internal_error"


class NoChampionError(GatewayError):
    """No champion model is registered yet."""

    code = "no_champion"


class BrokerUnavailableError(GatewayError):
    """Kafka could not take the records."""

    code = "broker_unavailable"


class PredictionNotFoundError(GatewayError):
    code = "prediction_not_found"


class BatchJobNotFoundError(GatewayError):
    code = "batch_job_not_found"


class TooManyItemsError(GatewayError):
    code = "too_many_items"


class PayloadTooLargeError(GatewayError):
    code = "payload_too_large"


class InvalidUploadError(GatewayError):
    code = "invalid_upload"


class InvalidListingError(GatewayError):
    """A listing body that cannot be encoded as JSON (e.g. lone surrogates, huge integers)."""

    code = "validation_error"


class UnauthorizedError(GatewayError):
    code = "unauthorized"


class ForbiddenError(GatewayError):
    code = "forbidden"


class ContractViolationError(InvalidListingError):
    """A house that breaks the platform's data contract: ``violations`` names every rule."""

    def __init__(self, violations: Sequence[RuleViolation]) -> None:
        self.violations = list(violations)
        named = "; ".join(f"{v.rule} ({v.message})" for v in self.violations[:5])
        super().__init__(f"the house breaks the data contract: {named}")


class ComparablesUnavailableError(GatewayError):
    """No comparable-sales reader is configured (or the training store cannot be read)."""

    code = "comparables_unavailable"
