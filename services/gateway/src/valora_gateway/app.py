"""The FastAPI application around a :class:`~valora_gateway.deps.Services` container.

Kept apart from :mod:`valora_gateway.bootstrap` (which builds the real services) so unit tests can
serve the same routes, middleware and error handling over fakes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from valora_observability import ServiceMetrics, metrics_app

from valora_gateway.deps import Services, api_key_checker
from valora_gateway.docs import add_offline_docs
from valora_gateway.http_errors import install_error_handlers
from valora_gateway.middleware import BodyLimitMiddleware, HttpMetrics, MetricsMiddleware
from valora_gateway.routes import build_router
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
    install_error_handlers(app)
    write_guard = api_key_checker(settings.gateway_api_key)
    predict_guard = write_guard if settings.gateway_api_key_for_predict else api_key_checker(None)
    app.include_router(build_router(write_guard=write_guard, predict_guard=predict_guard))
    app.mount("/metrics", metrics_app(metrics))
    add_offline_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.gateway_max_body_bytes,
        upload_max_bytes=settings.gateway_max_upload_bytes,
        upload_prefix="/batch-jobs",
    )
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(metrics))
    return app
