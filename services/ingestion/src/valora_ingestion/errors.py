"""Typed errors of the ingestion service."""

from __future__ import annotations

from valora_messaging import PermanentError

__all__ = ["IngestionError", "InvalidListingError"]


class IngestionError(Exception):
    """Base class of ingestion errors."""


class InvalidListingError(IngestionError, PermanentError):
    """A raw record that can never become an ``IngestedListing`` (dead-lettered)."""
