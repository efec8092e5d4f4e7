"""A real ``mlflow server`` process (1 worker) on the port of ``VALORA_MLFLOW_TRACKING_URI``.

Backend store: the ``mlflow`` database of the private PostgreSQL when the dev stack runs
PostgreSQL; SQLite under ``<state_dir>/mlflow/mlflow.db`` when PostgreSQL is external (an
external server's ``mlflow`` database may not exist, and creating databases there is not the dev
stack's business); ``VALORA_MLFLOW_BACKEND_STORE_URI`` overrides both. Artifacts are served by
the server (``--serve-artifacts``) from ``<state_dir>/mlflow/artifacts``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from valora_devstack.http_process import ServiceProcess
from valora_devstack.settings import DevstackSettings

__all__ = ["MlflowServer"]


class MlflowServer(ServiceProcess):
    def __init__(self, settings: DevstackSettings) -> None:
        addr = settings.mlflow_address
        self.artifacts = settings.state_path / "mlflow" / "artifacts"
        self.backend_uri = settings.mlflow_backend_uri
        super().__init__(
            settings,
            name="mlflow",
            argv=[
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--serve-artifacts",
                "--artifacts-destination",
                str(self.artifacts),
                "--host",
                addr.host,
                "--port",
                str(addr.port),
                "--workers",
                "1",
                "--allowed-hosts",
                f"{addr.host}:{addr.port},localhost:{addr.port},{addr.host}",
            ],
            port=addr.port,
            host=addr.host,
            health_url=f"http://{addr}/health",
            depends_on=("postgres",) if settings.postgres_is_managed else (),
            marker="mlflow server",
            start_timeout=settings.mlflow_start_timeout_s,
        )

    def env(self) -> Mapping[str, str]:
        return {
            # Keep the server quiet and self-contained.
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
            # Via the environment, not argv: keeps the database password out of `ps`.
            "MLFLOW_BACKEND_STORE_URI": self.backend_uri,
            # MLflow 3's GenAI job runner spawns ~8 huey consumer processes; Valora does not
            # use server-side jobs, and they cost CPU on small machines.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }

    def prepare(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
