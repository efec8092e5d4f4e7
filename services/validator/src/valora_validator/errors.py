"""Typed errors of the validator service (a bad data-contract file raises the contracts'
:class:`~valora_contracts.DataContractError` at start-up)::

    ValidatorError
    └── InvalidIngestedListingError   (also PermanentError) not an IngestedListing: dead-lettered
"""

from __future__ import annotations

from valora_messaging import PermanentError

__all__ = ["InvalidIngestedListingError", "ValidatorError"]


class ValidatorError(Exception):
    """Base class of validator errors."""


class InvalidIngestedListingError(ValidatorError, PermanentError):
    """A record on the ingested topic that is not an ``IngestedListing`` (dead-lettered)."""
