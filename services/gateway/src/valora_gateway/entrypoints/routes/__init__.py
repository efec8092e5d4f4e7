"""The HTTP routes, one module per theme; :data:`ROUTERS` is what the app includes."""

from fastapi import APIRouter

from valora_gateway.entrypoints.routes import batch_jobs, health, lineage, listings, predict

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    predict.router,
    batch_jobs.router,
    lineage.router,
    listings.router,
    health.router,
)
