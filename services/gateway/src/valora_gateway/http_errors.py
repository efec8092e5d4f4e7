"""Every error as JSON: ``{"error": code, "message": text, "fields": [...]}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from valora_gateway.errors import GatewayError

__all__ = ["field_errors", "install_error_handlers"]

logger = logging.getLogger(__name__)


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


def install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        if exc.status >= 500:
            logger.warning("request failed", extra={"error": exc.code, "detail": str(exc)})
        return _json(exc.status, exc.code, str(exc) or exc.code)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = field_errors(exc.errors())
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _json(422, "validation_error", f"invalid request: {summary}", fields=fields)

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

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
