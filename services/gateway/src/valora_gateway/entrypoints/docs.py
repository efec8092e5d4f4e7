"""OpenAPI docs that work with no internet: Swagger UI served from the installed package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["STATIC_PREFIX", "add_offline_docs", "swagger_assets_dir"]

STATIC_PREFIX = "/docs-static"


def swagger_assets_dir() -> Path:
    """Swagger UI 5 (bundle, CSS, favicon) as shipped by the ``fastapi-offline`` package."""
    return Path(str(files("fastapi_offline") / "static"))


def add_offline_docs(app: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve ``docs_url`` with local assets (create the app with ``docs_url=None``)."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=swagger_assets_dir()), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(docs_url, swagger_ui, include_in_schema=False, methods=["GET"])
    app.add_api_route(redirect_url, oauth2_redirect, include_in_schema=False, methods=["GET"])
