"""The one settings base for every Valora package: ``VALORA_``-prefixed environment variables.

Nothing is built at import time: call :func:`ValoraSettings` (or a subclass) in a composition root.
Outside ``VALORA_ENVIRONMENT=local`` construction fails closed on insecure settings
(:mod:`valora_settings.environment`).
"""

from valora_settings.base import (
    LOCAL_DATABASE_URL,
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_MLFLOW_URL,
    ValoraSettings,
)
from valora_settings.environment import (
    LOCAL_ONLY_MARK,
    Environment,
    InsecureSettingsError,
    Resource,
    is_local_only,
)

__all__ = [
    "LOCAL_DATABASE_URL",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_MLFLOW_URL",
    "LOCAL_ONLY_MARK",
    "Environment",
    "InsecureSettingsError",
    "Resource",
    "ValoraSettings",
    "is_local_only",
]
