"""Typed errors of the contracts package::

ContractError
├── UnknownTopicError    (also KeyError) a topic name not in the registry
└── DataContractError    (also ValueError) the data-contract YAML is missing or invalid
"""

from __future__ import annotations

__all__ = ["ContractError", "DataContractError", "UnknownTopicError"]


class ContractError(Exception):
    """Base class of contract errors."""


class UnknownTopicError(ContractError, KeyError):
    """A topic name not in the registry."""


class DataContractError(ContractError, ValueError):
    """The data-contract file is missing, not YAML, or not a valid contract."""
