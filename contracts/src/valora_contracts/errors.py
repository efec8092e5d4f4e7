"""Typed errors of the contracts package."""

from __future__ import annotations

__all__ = ["ContractError", "UnknownTopicError"]


class ContractError(Exception):
    """Base class of contract errors."""


class UnknownTopicError(ContractError, KeyError):
    """A topic name not in the registry."""
