"""``valora ops mlflow-users``: one MLflow user per service, created as the admin (an existing
user gets its password updated), none for a service without a password."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from valora_cli.ops_mlflow import MlflowUsersSettings, ensure_mlflow_users

pytestmark = pytest.mark.unit


def test_each_service_gets_its_user_and_a_rerun_updates_passwords() -> None:
    users = {"trainer": "old"}
    callers: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        callers.append(base64.b64decode(request.headers["authorization"].split()[1]).decode())
        body = orjson.loads(request.content)
        if request.url.path.endswith("/users/create") and body["username"] in users:
            return httpx.Response(400, json={"error_code": "RESOURCE_ALREADY_EXISTS"})
        users[body["username"]] = body["password"]
        return httpx.Response(200, json={})

    values: dict[str, Any] = {
        "mlflow_username": "admin",
        "mlflow_password": "admin-password",
        "ops_mlflow_password_trainer": "trainer-pass",
        "ops_mlflow_password_gateway": "gateway-pass",
    }
    settings = MlflowUsersSettings(_env_file=None, **values)  # type: ignore[call-arg]
    done = ensure_mlflow_users(settings, transport=httpx.MockTransport(server))
    assert sorted(done) == ["gateway", "trainer"]
    assert users == {"trainer": "trainer-pass", "gateway": "gateway-pass"}
    assert set(callers) == {"admin:admin-password"}
