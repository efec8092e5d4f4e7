"""The FastAPI application: routes, error handling, middleware, metrics and offline docs.

Kept apart from :mod:`valora_gateway.bootstrap` (which builds the real services) so unit tests
serve the same app over fakes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from valora_observability import ServiceMetrics, metrics_app

from valora_gateway.domain.access import ApiKeys
from valora_gateway.entrypoints.auth import ApiKeyMiddleware
from valora_gateway.entrypoints.deps import Services
from valora_gateway.entrypoints.docs import add_offline_docs
from valora_gateway.entrypoints.http_errors import install_error_handlers
from valora_gateway.entrypoints.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    HttpMetrics,
    MetricsMiddleware,
)
from valora_gateway.entrypoints.routes import ROUTERS
from valora_gateway.entrypoints.tracing import instrument
from valora_gateway.settings import GatewaySettings

__all__ = ["create_http_app"]


def create_http_app(
    *,
    services: Services,
    settings: GatewaySettings,
    metrics: ServiceMetrics,
    lifespan: Any = None,
) -> FastAPI:
    app = FastAPI(
        title="Valora gateway",
        version="1.0",
        description="Real-estate price prediction: REST, batch and batch jobs over Kafka. "
        "POST /predict accepts the older project's body (area, quartos, banheiros, idade, "
        "garagem, bairro) and English names.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.settings = settings
    keys = ApiKeys.build(settings.api_keys(), local=settings.is_local)
    app.state.api_keys = keys
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/metrics", metrics_app(metrics))
    add_offline_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.gateway_max_body_bytes,
        upload_max_bytes=settings.gateway_max_upload_bytes,
        upload_prefix="/batch-jobs",
    )
    app.add_middleware(
        AdmissionMiddleware,
        path="/predict/batch",
        limit=settings.gateway_max_batch_calls,
        retry_after_s=settings.gateway_retry_after_s,
    )
    # Outside the body limit: a request without a key of its route's scope is refused before
    # its body is read (every route but /health/*, /metrics and /docs included).
    scoped = [route for router in ROUTERS for route in router.routes]
    app.add_middleware(ApiKeyMiddleware, keys=keys, routes=scoped)
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(metrics))
    instrument(app)  # traces while tracing is on; nothing otherwise
    return app
