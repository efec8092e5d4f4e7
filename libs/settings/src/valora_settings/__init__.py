"""The one settings base for every Valora package: ``VALORA_``-prefixed environment variables.

Nothing is built at import time: call :func:`ValoraSettings` (or a subclass) in a composition root.
"""

from valora_settings.base import (
    LOCAL_DATABASE_URL,
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_MLFLOW_URL,
    ValoraSettings,
)

__all__ = ["LOCAL_DATABASE_URL", "LOCAL_KAFKA_BOOTSTRAP", "LOCAL_MLFLOW_URL", "ValoraSettings"]
