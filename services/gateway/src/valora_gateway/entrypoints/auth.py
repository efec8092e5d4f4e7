"""API keys with scopes: every route but the health checks needs a key of its route's scope.

Scopes (:data:`SCOPES`): ``predict`` (``POST /predict*``), ``publish`` (``POST /listings``,
``POST /batch-jobs``), ``read`` (stored predictions, batch-job status and results, the champion)
and ``admin`` (``/metrics``, ``/docs``, ``/openapi.json`` and anything no route declares).
A route declares its scope with ``dependencies=[Scoped("read")]`` (which also puts the key in
the OpenAPI document); :class:`ApiKeyMiddleware` enforces it before the request body is read,
so an unauthenticated 64 MiB upload is refused without being received.

Keys come from ``VALORA_GATEWAY_API_KEYS_<SCOPE>`` (comma-separated: several keys per scope, so
a key rotates without downtime). A key is sent as ``X-API-Key: <key>`` or
``Authorization: Bearer <key>``. Only the keys' SHA-256 digests are kept and every one of them
is compared in constant time (no early exit). No key, or a key no scope knows: 401 with
``WWW-Authenticate``; a known key of another scope: 403. In ``local`` a scope without keys is
open (the dev stack and the older project's clients); elsewhere the gateway refuses to start
unless every scope has keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
from fastapi import Request
from fastapi.security import APIKeyHeader
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from valora_gateway.domain.access import ApiKeys, AuthScope
from valora_gateway.errors import ForbiddenError, UnauthorizedError

__all__ = [
    "API_KEY_HEADER",
    "PUBLIC_PATHS",
    "UNAUTHORIZED_HEADERS",
    "ApiKeyMiddleware",
    "Scoped",
    "route_scope",
]

API_KEY_HEADER = "X-API-Key"
PUBLIC_PATHS = frozenset({"/health/live", "/health/ready"})
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}


def _key_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    bearer: str | None = None
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1")
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].decode("latin-1").strip()
    return bearer


class Scoped(APIKeyHeader):
    """Route dependency naming the route's scope (``dependencies=[Scoped("read")]``); it checks
    the key too, so a route is guarded even where the middleware did not run.

    It *is* the ``X-API-Key`` security scheme (an :class:`APIKeyHeader`), so the OpenAPI
    document names the key on every scoped route with one dependency per request, not two."""

    def __init__(self, scope: AuthScope) -> None:
        super().__init__(name=API_KEY_HEADER, scheme_name="APIKeyHeader", auto_error=False)
        self.scope = scope

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        keys: ApiKeys = request.app.state.api_keys
        key = _key_of(request.scope.get("headers", ()))
        keys.authorize(key, self.scope)
        return key


def route_scope(route: BaseRoute) -> AuthScope:
    """The scope a route declares with :class:`Scoped` (``admin`` when it declares none)."""
    for depends in getattr(route, "dependencies", ()):
        if isinstance(depends.dependency, Scoped):
            return depends.dependency.scope
    return "admin"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers += [(k.lower().encode(), v.encode()) for k, v in UNAUTHORIZED_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    body = orjson.dumps({"error": code, "message": message})
    await send({"type": "http.response.body", "body": body})


class ApiKeyMiddleware:
    """Refuses a request without a key of its route's scope before the route (or the body)
    is touched; health paths are public, unmatched paths need ``admin``."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.keys = keys
        self.routes = routes

    def _scope_for(self, scope: Scope) -> AuthScope:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route_scope(route)
        return "admin"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        required = self._scope_for(scope)
        try:
            self.keys.authorize(_key_of(scope.get("headers", ())), required)
        except (UnauthorizedError, ForbiddenError) as exc:
            status = 401 if isinstance(exc, UnauthorizedError) else 403
            await _refuse(send, status, exc.code, str(exc))
            return
        await self.app(scope, receive, send)
