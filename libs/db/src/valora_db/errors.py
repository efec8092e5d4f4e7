"""Typed database errors."""

from __future__ import annotations

__all__ = ["DatabaseUnavailableError", "ValoraDatabaseError"]


class ValoraDatabaseError(Exception):
    """Base class of database errors."""


class DatabaseUnavailableError(ValoraDatabaseError):
    """PostgreSQL could not be reached (transient: retry, then redeliver)."""
