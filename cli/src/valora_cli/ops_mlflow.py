"""``valora ops mlflow-users``: the services' MLflow users on a server with basic auth.

Run as MLflow's admin (``VALORA_MLFLOW_USERNAME`` / ``VALORA_MLFLOW_PASSWORD``). Each service
gets a user named after it with its password (``VALORA_OPS_MLFLOW_PASSWORD_<SERVICE>``); a user
that exists gets its password updated. The server's ``default_permission = READ`` lets every
user read every experiment and model; the trainer creates the registered model, so it is its
owner (``MANAGE``) and the only user that may move the ``champion`` alias.
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from pydantic import Field, SecretStr
from valora_settings import Resource, ValoraSettings

__all__ = ["SERVICES", "MlflowUsersSettings", "ensure_mlflow_users"]

SERVICES = ("trainer", "predictor", "gateway", "drift_monitor")
CREATE_USER = "/api/2.0/mlflow/users/create"
# A URL path, not a password (ruff S105, bandit B105).
UPDATE_PASSWORD = "/api/2.0/mlflow/users/update-password"  # noqa: S105  # nosec B105


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


def ensure_mlflow_users(
    settings: MlflowUsersSettings, *, transport: httpx.BaseTransport | None = None
) -> list[str]:
    """Create (or re-password) every service user that has a password, with MLflow's auth
    REST API as the admin; their names."""
    admin = settings.mlflow_password.get_secret_value() if settings.mlflow_password else ""
    done = []
    with httpx.Client(
        base_url=settings.mlflow_url_str,
        auth=(settings.mlflow_username or "", admin),
        timeout=30.0,
        transport=transport,
    ) as http:
        for user, password in settings.passwords().items():
            body = {"username": user, "password": password}
            created = http.post(CREATE_USER, json=body)
            if created.status_code == 400 and _code(created) == "RESOURCE_ALREADY_EXISTS":
                http.patch(UPDATE_PASSWORD, json=body).raise_for_status()
            else:
                created.raise_for_status()
            done.append(user)
    return done


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error_code", ""))
    except ValueError:
        return ""
