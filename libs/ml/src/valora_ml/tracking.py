"""Point MLflow's process-wide client at the tracking server (called by composition roots).

MLflow resolves ``models:/`` URIs through its process-wide registry URI even where an API takes
explicit URIs (``mlflow.artifacts.download_artifacts``), and its default is a local SQLite file:
every service that loads or logs models must set both URIs once, at start-up. With MLflow's
basic authentication, every MLflow client of the process (``MlflowClient``, downloads) signs
its requests with the service's own user, which MLflow reads from ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD``: :func:`use_tracking_server` sets them from the settings.
"""

from __future__ import annotations

import os

from pydantic import SecretStr

__all__ = ["use_tracking_server"]


def use_tracking_server(
    url: str, *, username: str | None = None, password: SecretStr | None = None
) -> None:
    """Use ``url`` as MLflow's tracking and model-registry server in this process, as
    ``username`` when given (MLflow basic authentication)."""
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    if username:
        os.environ["MLFLOW_TRACKING_USERNAME"] = username
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password.get_secret_value() if password else ""
