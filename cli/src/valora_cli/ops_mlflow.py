"""``valora ops mlflow-users``: the services' MLflow users on a server with basic auth.

Run as MLflow's admin (``VALORA_MLFLOW_USERNAME`` / ``VALORA_MLFLOW_PASSWORD``). Each service
gets a user named after it with its password (``VALORA_OPS_MLFLOW_PASSWORD_<SERVICE>``); a user
that exists gets its password updated. The server's ``default_permission = READ`` lets every
user read every experiment and model; the trainer creates the registered model, so it is its
owner (``MANAGE``) and the only user that may move the ``champion`` alias.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from valora_ml.tracking import use_tracking_server
from valora_settings import Resource, ValoraSettings

__all__ = ["SERVICES", "MlflowUsersSettings", "ensure_mlflow_users"]

SERVICES = ("trainer", "predictor", "gateway", "drift_monitor")


class MlflowUsersSettings(ValoraSettings):
    """The admin's credentials (``mlflow_username`` / ``mlflow_password``) and each service's
    password."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"mlflow"})

    ops_mlflow_password_trainer: SecretStr | None = Field(default=None, description="trainer")
    ops_mlflow_password_predictor: SecretStr | None = Field(default=None, description="predictor")
    ops_mlflow_password_gateway: SecretStr | None = Field(default=None, description="gateway")
    ops_mlflow_password_drift_monitor: SecretStr | None = Field(
        default=None, description="drift-monitor"
    )

    def passwords(self) -> dict[str, str]:
        out = {}
        for service in SERVICES:
            secret = getattr(self, f"ops_mlflow_password_{service}")
            if secret is not None and secret.get_secret_value():
                out[service.replace("_", "-")] = secret.get_secret_value()
        return out


def ensure_mlflow_users(settings: MlflowUsersSettings) -> list[str]:
    """Create (or re-password) every service user that has a password; their names."""
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient

    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    client = AuthServiceClient(settings.mlflow_url_str)
    done = []
    for user, password in settings.passwords().items():
        try:
            client.create_user(user, password)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            client.update_user_password(user, password)
        done.append(user)
    return done
