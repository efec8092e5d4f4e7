"""Typed errors of the validator service."""

from __future__ import annotations

from valora_messaging import PermanentError

__all__ = ["ContractLoadError", "InvalidIngestedListingError", "ValidatorError"]


class ValidatorError(Exception):
    """Base class of validator errors."""


class ContractLoadError(ValidatorError):
    """The data-contract file is missing, not YAML, or not a valid contract."""


class InvalidIngestedListingError(ValidatorError, PermanentError):
    """A record on the ingested topic that is not an ``IngestedListing`` (dead-lettered)."""
