"""Typed errors of the drift monitor (callers catch :class:`DriftMonitorError`).

::

    DriftMonitorError
    ├── InvalidEventError          also PermanentError: the record is dead-lettered at once
    ├── ReferenceUnavailableError  no usable reference in MLflow: the window is not judged
    └── DriftStoreError            also TransientError: the batch is redelivered
"""

from __future__ import annotations

from valora_messaging import PermanentError, TransientError

__all__ = [
    "DriftMonitorError",
    "DriftStoreError",
    "InvalidEventError",
    "ReferenceUnavailableError",
]


class DriftMonitorError(Exception):
    """Base class of drift-monitor errors."""


class InvalidEventError(DriftMonitorError, PermanentError):
    """A consumed record that is not the topic's event type (dead-lettered)."""


class ReferenceUnavailableError(DriftMonitorError):
    """The champion's reference profile or metrics could not be read from MLflow."""


class DriftStoreError(DriftMonitorError, TransientError):
    """PostgreSQL refused or could not be reached; the batch is redelivered."""
