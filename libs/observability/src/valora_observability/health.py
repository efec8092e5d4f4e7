"""Liveness and readiness checks, served as JSON by a tiny ASGI app.

``/health/live`` fails (503, with the reason) once the process called
:func:`valora_observability.lifecycle.fatal`; ``/health/ready`` runs the service's checks.
:func:`kafka_ready` is the broker check every Kafka service uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from valora_observability.lifecycle import fatal_reason

__all__ = [
    "HealthCheck",
    "Pingable",
    "health_app",
    "kafka_ready",
    "live_response",
    "run_checks",
    "service_routes",
]

HealthCheck = Callable[[], Awaitable[bool]]
logger = logging.getLogger(__name__)


class Pingable(Protocol):
    """What :func:`kafka_ready` needs of a broker (a FastStream ``KafkaBroker`` is one)."""

    async def ping(self, timeout: float) -> bool: ...  # noqa: ASYNC109 (FastStream's API)


def kafka_ready(broker: Pingable, *, timeout_s: float = 1.0) -> HealthCheck:
    """A readiness check that holds while ``broker`` answers a ping within ``timeout_s``."""

    async def check() -> bool:
        return bool(await broker.ping(timeout=timeout_s))

    return check


def live_response() -> JSONResponse:
    """The ``/health/live`` answer: 200 while the process serves, 503 once it is fatal."""
    reason = fatal_reason()
    if reason is not None:
        return JSONResponse({"status": "fatal", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


async def run_checks(
    checks: Mapping[str, HealthCheck], *, timeout_s: float = 2.0
) -> dict[str, bool]:
    """Run every check with a timeout; a check that raises or times out is unhealthy."""

    async def one(name: str, check: HealthCheck) -> tuple[str, bool]:
        try:
            return name, bool(await asyncio.wait_for(check(), timeout_s))
        except Exception as exc:  # a failing check is a result, not a crash
            logger.warning("health check failed", extra={"check": name, "error": repr(exc)})
            return name, False

    results = await asyncio.gather(*(one(n, c) for n, c in checks.items()))
    return dict(results)


def health_app(*, ready: Mapping[str, HealthCheck]) -> ASGIApp:
    """``/health/live`` is 200 while the process serves (503 once it is fatal);
    ``/health/ready`` only if every check holds (503 with the failing checks otherwise)."""

    async def live(_: Request) -> JSONResponse:
        return live_response()

    async def readiness(_: Request) -> JSONResponse:
        results = await run_checks(ready)
        ok = all(results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    return Starlette(
        routes=[
            Route("/health/live", live),
            Route("/health/ready", readiness),
        ]
    )


def service_routes(
    *, metrics_app: ASGIApp, ready: Mapping[str, HealthCheck]
) -> list[tuple[str, ASGIApp]]:
    """``asgi_routes`` for a FastStream ``AsgiFastStream``: ``/metrics`` and the health pair."""
    health = health_app(ready=ready)
    return [("/metrics", metrics_app), ("/health/live", health), ("/health/ready", health)]
