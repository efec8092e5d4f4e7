"""Every error as JSON: ``{"error": code, "message": text, "fields": [...]}``.

The one place where an error's code decides its HTTP status: the gateway's own errors
(:mod:`valora_gateway.errors`) and the request-reply client's
(:data:`~valora_messaging.request_reply.ReplyErrorCode`, which also names the body's code).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from valora_contracts import RuleViolation
from valora_messaging.request_reply import ReplyErrorCode, RequestReplyError

from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.entrypoints.auth import UNAUTHORIZED_HEADERS
from valora_gateway.errors import ContractViolationError, GatewayError

__all__ = ["GATEWAY_STATUS", "REPLY_ERRORS", "field_errors", "http_error", "install_error_handlers"]

logger = logging.getLogger(__name__)

GATEWAY_STATUS: dict[str, int] = {
    "no_champion": 503,
    "broker_unavailable": 503,
    "prediction_not_found": 404,
    "batch_job_not_found": 404,
    "too_many_items": 413,
    "payload_too_large": 413,
    "invalid_upload": 422,
    "validation_error": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "comparables_unavailable": 503,
}
"""HTTP status of each :class:`GatewayError` code."""

REPLY_ERRORS: dict[ReplyErrorCode, tuple[int, str]] = {
    "timeout": (504, "predictor_timeout"),
    "not_delivered": (503, "broker_unavailable"),
    "no_champion": (503, "no_champion"),  # retry later: no model is served yet
    "prediction_failed": (502, "predictor_error"),
    "invalid_reply": (502, "predictor_error"),
    "overloaded": (503, "overloaded"),  # shed at once: retry after Retry-After
}
"""HTTP status and body code of each request-reply error code."""


def http_error(exc: GatewayError | RequestReplyError) -> tuple[int, str]:
    """``(status, code)`` of an error."""
    if isinstance(exc, RequestReplyError):
        return REPLY_ERRORS[exc.code]
    return GATEWAY_STATUS.get(exc.code, 500), exc.code


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def field_errors(errors: Any) -> list[dict[str, str]]:
    out = []
    for err in errors:
        if err.get("type") == "json_invalid":
            out.append({"field": "body", "message": "the body is not valid JSON"})
            continue
        out.append({"field": _field_name(tuple(err.get("loc", ()))), "message": str(err["msg"])})
    return out


def _json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _violations(violations: Sequence[RuleViolation]) -> dict[str, Any]:
    """The body's ``violations`` (every broken contract rule) and their ``fields``."""
    return {
        "violations": [v.model_dump(mode="json") for v in violations],
        "fields": [{"field": v.field or "body", "message": v.message} for v in violations],
    }


async def on_typed_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError | RequestReplyError)
    status, code = http_error(exc)
    if status >= 500 and status != 503:
        logger.warning("request failed", extra={"error": code, "detail": str(exc)})
    extra = _violations(exc.violations) if isinstance(exc, ContractViolationError) else {}
    response = _json(status, code, str(exc) or code, **extra)
    if status == 401:
        response.headers.update(UNAUTHORIZED_HEADERS)
    if status == 503:  # shed or not ready: come back shortly
        retry_after = request.app.state.settings.gateway_retry_after_s
        response.headers["Retry-After"] = str(retry_after)
    return response


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field; for a house to value, also each data-contract rule its
    values break (``"area": 1e308`` is refused by the type and named by ``area_range``)."""
    assert isinstance(exc, RequestValidationError)
    fields = field_errors(exc.errors())
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    check = _house_check(request)
    batch = request.url.path == "/predict/batch"
    if check is not None and (batch or request.url.path == "/predict"):
        violations = check.body_violations(exc.body, batch=batch)
        if violations:
            broken = ContractViolationError(violations)
            body = _violations(violations)
            return _json(
                422, "validation_error", f"invalid request: {broken}; {summary}",
                violations=body["violations"], fields=[*body["fields"], *fields],
            )  # fmt: skip
    return _json(422, "validation_error", f"invalid request: {summary}", fields=fields)


def _house_check(request: Request) -> HouseCheck | None:
    services = getattr(request.app.state, "services", None)
    return getattr(services, "house_check", None)


async def on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        # FastAPI's answer to a body that is not UTF-8: as invalid as any malformed body.
        fields = [{"field": "body", "message": "the body is not valid UTF-8 JSON"}]
        return _json(
            422, "validation_error", "invalid request: body is not UTF-8 JSON", fields=fields
        )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": code, "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return _json(500, "internal_error", "internal error; see the gateway logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, on_typed_error)
    app.add_exception_handler(RequestReplyError, on_typed_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
