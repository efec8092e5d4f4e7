"""Typed errors of the trainer service. Callers catch :class:`TrainerError`::

    TrainerError
    ├── ConfigError                (also ValueError) the training YAML is invalid
    ├── InsufficientDataError      (also PermanentError) too few labelled rows: the request fails
    ├── TrainingCancelledError     shutting down: the request goes back to pending
    ├── TransientTrainingError     (also TransientError) MLflow/PostgreSQL blip: retried later
    └── RegistryError              MLflow is not in the expected state

The runner (:mod:`valora_trainer.entrypoints.runner`) maps them to a request's fate.
"""

from __future__ import annotations

from valora_messaging import PermanentError, TransientError

__all__ = [
    "ConfigError",
    "InsufficientDataError",
    "RegistryError",
    "TrainerError",
    "TrainingCancelledError",
    "TransientTrainingError",
]


class TrainerError(Exception):
    """Base class of trainer errors."""


class ConfigError(TrainerError, ValueError):
    """The training configuration (YAML) is invalid."""


class InsufficientDataError(TrainerError, PermanentError):
    """The training store holds too few labelled rows for a run (the request fails)."""


class TrainingCancelledError(TrainerError):
    """The trainer is shutting down: the run stops and its request goes back to pending."""


class TransientTrainingError(TrainerError, TransientError):
    """A dependency (MLflow, PostgreSQL) failed briefly: the request is retried later."""


class RegistryError(TrainerError):
    """The MLflow registry is not in the expected state."""
