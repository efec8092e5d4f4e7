"""Every gateway route but the health checks needs an API key of its scope (outside local).

The route list is not kept by hand: the tests walk the OpenAPI document and the app's own
routes (``/metrics``, ``/docs``, ``/openapi.json`` and the Swagger assets are not in the
document), so a route added tomorrow is checked tomorrow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
from fastapi.routing import _IncludedRouter
from pydantic import ValidationError
from starlette.routing import Mount
from test_gateway import SEED, _app, _client
from valora_gateway.domain.access import SCOPES, ApiKeys
from valora_gateway.entrypoints.auth import PUBLIC_PATHS, route_scope
from valora_gateway.entrypoints.routes import ROUTERS

pytestmark = pytest.mark.unit

KEYS = {scope: f"{scope}-key-for-the-tests" for scope in SCOPES}
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "gateway",
    "kafka_sasl_password": "kafka-password-from-the-store",
    "database_url": "postgresql+asyncpg://gateway:db-password-from-the-store@db:5432/valora",
    "database_sslmode": "verify-full",
    "mlflow_username": "gateway",
    "mlflow_password": "mlflow-password-from-the-store",
    **{f"gateway_api_keys_{scope}": key for scope, key in KEYS.items()},
}


EXPECTED_SCOPES = {
    ("POST", "/predict", "predict"),
    ("POST", "/predict/batch", "predict"),
    ("POST", "/listings", "publish"),
    ("POST", "/batch-jobs", "publish"),
    ("GET", "/batch-jobs/{job_id}", "read"),
    ("GET", "/batch-jobs/{job_id}/results", "read"),
    ("GET", "/predictions/{prediction_id}", "read"),
    ("GET", "/models/champion", "read"),
    ("GET", "/metrics/anything", "admin"),
    ("GET", "/docs", "admin"),
    ("GET", "/openapi.json", "admin"),
}
"""Where the routes known today belong (the walk itself finds every route)."""


def _endpoints(app: Any) -> list[tuple[str, str, str]]:
    """``(method, path, scope)`` of every route: the OpenAPI document's operations plus the
    app's routes and mounts outside it."""
    out: set[tuple[str, str, str]] = set()
    api = [route for router in ROUTERS for route in router.routes]
    for route in [*api, *app.router.routes]:
        if isinstance(route, _IncludedRouter):  # its routes are in ROUTERS
            continue
        if isinstance(route, Mount):
            out.add(("GET", f"{route.path}/anything", "admin"))
            continue
        for method in getattr(route, "methods", None) or {"GET"}:
            if method != "HEAD":
                out.add((method, route.path, route_scope(route)))
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= {(m, p) for m, p, _ in out}, "an OpenAPI operation has no route"
    return sorted(out)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_route_but_health_answers_401_without_a_key_and_403_for_another_scope() -> None:
    app, _ = _app(**PRODUCTION)
    endpoints = _endpoints(app)
    guarded = [e for e in endpoints if e[1] not in PUBLIC_PATHS]
    assert {"/predict", "/predict/batch", "/listings", "/batch-jobs", "/metrics", "/docs"} <= {
        path.removesuffix("/anything") for _, path, _ in guarded
    }
    assert {scope for _, _, scope in guarded} == set(SCOPES)
    assert set(guarded) >= EXPECTED_SCOPES
    async with _client(app) as http:
        for method, path, scope in guarded:
            url = _concrete(path)
            anonymous = await http.request(method, url, json=SEED)
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            assert "ApiKey" in anonymous.headers["www-authenticate"]
            assert anonymous.json()["error"] == "unauthorized"
            unknown = await http.request(method, url, headers={"X-API-Key": "nope" * 8})
            assert unknown.status_code == 401, (method, path)
            for other in (s for s in SCOPES if s != scope):
                wrong = await http.request(method, url, headers={"X-API-Key": KEYS[other]})
                assert wrong.status_code == 403, (method, path, other)
                assert wrong.json()["error"] == "forbidden"
            right = await http.request(method, url, json=SEED, headers={"X-API-Key": KEYS[scope]})
            assert right.status_code not in (401, 403), (method, path, right.text)
        for path in sorted(PUBLIC_PATHS):
            assert (await http.get(path)).status_code == 200


async def test_keys_rotate_and_travel_as_x_api_key_or_bearer() -> None:
    app, _ = _app(
        **{**PRODUCTION, "gateway_api_keys_predict": "old-key-for-the-tests, new-key-for-the-tests"}
    )
    async with _client(app) as http:
        for key in ("old-key-for-the-tests", "new-key-for-the-tests"):
            assert (
                await http.post("/predict", json=SEED, headers={"X-API-Key": key})
            ).status_code == 200
        bearer = {"Authorization": "Bearer new-key-for-the-tests"}
        assert (await http.post("/predict", json=SEED, headers=bearer)).status_code == 200
        scrape = {"Authorization": f"Bearer {KEYS['admin']}"}
        metrics = await http.get("/metrics/", headers=scrape)
        assert metrics.status_code == 200
        assert "valora_http_requests_total" in metrics.text


async def test_an_unauthenticated_upload_is_refused_before_its_body_is_read() -> None:
    app, _ = _app(**PRODUCTION)
    received: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(b"chunk")
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/batch-jobs",
        "raw_path": b"/batch-jobs",
        "query_string": b"",
        "headers": [(b"content-type", b"text/csv"), (b"content-length", b"67108864")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
        "app": app,
    }
    await app.router.lifespan_context(app).__aenter__()  # type: ignore[attr-defined]
    await app(scope, receive, send)
    assert sent[0]["status"] == 401
    assert received == []


async def test_in_local_a_scope_without_keys_is_open_and_an_empty_key_matches_nothing() -> None:
    app, _ = _app()
    async with _client(app) as http:  # the older project's clients: no header at all
        assert (await http.post("/predict", json=SEED)).status_code == 200
    app, _ = _app(gateway_api_keys_publish=" , ,local-key-for-the-tests")
    async with _client(app) as http:
        assert (await http.post("/listings", json=SEED)).status_code == 401
        empty = await http.post("/listings", json=SEED, headers={"X-API-Key": ""})
        assert empty.status_code == 401
        assert (await http.post("/predict", json=SEED)).status_code == 200  # predict: no keys


def test_keys_are_kept_as_digests_only() -> None:
    keys = ApiKeys.build({"read": ["read-key-for-the-tests"]}, local=False)
    assert b"read-key" not in repr(keys).encode()
    assert keys.scopes_of("read-key-for-the-tests") == {"read"}
    assert keys.scopes_of("read-key-for-the-test") == frozenset()
    assert keys.open_scopes == frozenset()


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"gateway_api_keys_read": None}, "VALORA_GATEWAY_API_KEYS_READ is empty"),
        ({"gateway_api_keys_admin": " , "}, "VALORA_GATEWAY_API_KEYS_ADMIN is empty"),
        ({"gateway_api_keys_predict": "short"}, "VALORA_GATEWAY_API_KEYS_PREDICT: every key"),
        (
            {"gateway_api_keys_publish": "publish-local-only-key"},
            "VALORA_GATEWAY_API_KEYS_PUBLISH: every key",
        ),
    ],
)
def test_production_refuses_missing_short_or_local_keys(change: dict[str, Any], names: str) -> None:
    from valora_gateway.settings import GatewaySettings

    with pytest.raises(ValidationError, match=re.escape(names)):
        GatewaySettings(_env_file=None, **{**PRODUCTION, **change})  # type: ignore[arg-type]


def test_the_gateway_process_does_not_start_in_production_without_keys() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VALORA_")},
        **{f"VALORA_{k.upper()}": str(v) for k, v in PRODUCTION.items()},
        "VALORA_GATEWAY_API_KEYS_PREDICT": "",
        "VALORA_GATEWAY_PORT": "1",  # nothing may listen even if the check were skipped
    }
    done = subprocess.run(
        [sys.executable, "-m", "valora_gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "VALORA_ENVIRONMENT=production refuses to start" in done.stderr
    assert "VALORA_GATEWAY_API_KEYS_PREDICT is empty" in done.stderr
