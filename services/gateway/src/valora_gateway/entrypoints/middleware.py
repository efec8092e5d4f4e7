"""Pure-ASGI middleware: request-body size limits, admission limits (503 before the body is
read) and Prometheus request metrics."""

from __future__ import annotations

import time

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from valora_observability import ServiceMetrics

__all__ = ["AdmissionMiddleware", "BodyLimitMiddleware", "HttpMetrics", "MetricsMiddleware"]


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"error": "payload_too_large", "message": f"request body exceeds {limit} bytes"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 (JSON) for bodies over the limit: by Content-Length at once, else while streaming."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int, upload_prefix: str
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_prefix = upload_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.upload_max_bytes if path.startswith(self.upload_prefix) else self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        await _too_large(send, limit)
                        return
                except ValueError:
                    pass
                break
        received = 0
        started = False
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                started = True
                await _too_large(send, limit)
                return
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if exceeded and not started:
            await _too_large(send, limit)


class AdmissionMiddleware:
    """At most ``limit`` requests to ``path`` at once: one more is answered 503 with
    ``Retry-After`` at once, before its body is read or parsed (under overload, parsing the
    bodies of requests that will be refused anyway is what would slow the refusals down)."""

    def __init__(self, app: ASGIApp, *, path: str, limit: int, retry_after_s: int) -> None:
        self.app = app
        self.path = path
        self.limit = limit
        self.retry_after = str(retry_after_s).encode()
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            body = orjson.dumps(
                {"error": "overloaded", "message": f"{self.limit} requests to {self.path} "
                 "are being served: retry after Retry-After seconds"}
            )  # fmt: skip
            headers = [(b"content-type", b"application/json"), (b"retry-after", self.retry_after)]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class HttpMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.service = metrics.service
        self.requests: Counter = metrics.counter(
            "valora_http_requests_total",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
        )
        self.latency: Histogram = metrics.histogram(
            "valora_http_request_seconds", "HTTP request latency by route.", ["method", "route"]
        )


class MetricsMiddleware:
    """Counts and times every request under its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            m = self.metrics
            m.requests.labels(m.service, method, template, str(status)).inc()
            m.latency.labels(m.service, method, template).observe(time.perf_counter() - started)
