"""Point MLflow's process-wide client at the tracking server (called by composition roots).

MLflow resolves ``models:/`` URIs through its process-wide registry URI even where an API takes
explicit URIs (``mlflow.artifacts.download_artifacts``), and its default is a local SQLite file:
every service that loads or logs models must set both URIs once, at start-up.
"""

from __future__ import annotations

__all__ = ["use_tracking_server"]


def use_tracking_server(url: str) -> None:
    """Use ``url`` as MLflow's tracking and model-registry server in this process."""
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
