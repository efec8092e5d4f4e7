"""What routes depend on: one :class:`Services` container, set on ``app.state`` at build time."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import SecretStr

from valora_gateway.batch_jobs import BatchJobRunner
from valora_gateway.champion import ChampionLookup
from valora_gateway.client import PredictionClient
from valora_gateway.errors import UnauthorizedError
from valora_gateway.repository import Repository

__all__ = ["API_KEY_HEADER", "Services", "api_key_checker", "get_services"]

API_KEY_HEADER = "X-API-Key"
PublishListings = Callable[[list[dict[str, Any]]], Awaitable[int]]


@dataclass
class Services:
    client: PredictionClient
    repo: Repository
    champion: ChampionLookup
    publish_listings: PublishListings
    runner: BatchJobRunner | None
    ready_checks: Mapping[str, Callable[[], Awaitable[bool]]]
    batch_max_items: int
    batch_job_max_rows: int
    listings_topic: str


async def get_services(request: Request) -> Services:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    hand-off per request on the hot path."""
    services: Services = request.app.state.services
    return services


def api_key_checker(key: SecretStr | None) -> Callable[[Request], Awaitable[None]]:
    """A dependency raising :class:`UnauthorizedError` unless ``X-API-Key`` matches (no-op
    when no key is configured)."""
    expected = key.get_secret_value().encode() if key is not None else None

    async def check(request: Request) -> None:  # async: no thread-pool hop (see above)
        if expected is None:
            return
        given = request.headers.get(API_KEY_HEADER, "").encode()
        if not secrets.compare_digest(given, expected):
            raise UnauthorizedError(f"missing or invalid {API_KEY_HEADER} header")

    return check
