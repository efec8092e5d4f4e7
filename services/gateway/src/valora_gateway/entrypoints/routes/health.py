"""Liveness and readiness (the failing checks are listed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from valora_observability import live_response, run_checks

from valora_gateway.entrypoints.deps import ReadyChecksDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health/live", responses={503: {"description": "The process hit a fatal error and stops."}}
)
async def live() -> JSONResponse:
    return live_response()


@router.get(
    "/health/ready", responses={503: {"description": "Not ready: the failing checks are listed."}}
)
async def ready(checks: ReadyChecksDep) -> JSONResponse:
    results = await run_checks(checks)
    ok = all(results.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": results},
        status_code=200 if ok else 503,
    )
