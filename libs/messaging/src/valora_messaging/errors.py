"""Typed messaging errors: how a consumer failure is handled is decided by its type."""

from __future__ import annotations

__all__ = ["MessagingError", "PermanentError", "TransientError"]


class MessagingError(Exception):
    """Base class of messaging errors."""


class PermanentError(MessagingError):
    """The record can never be processed (bad bytes, bad schema): dead-letter it and move on."""


class TransientError(MessagingError):
    """A dependency is briefly unavailable: retry with backoff, then leave it for redelivery."""
