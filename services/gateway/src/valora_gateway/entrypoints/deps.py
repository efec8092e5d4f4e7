"""What routes depend on, declared once: ``XDep = Annotated[X, Depends(get_x)]``.

The app keeps one :class:`Services` container and the settings on ``app.state`` (set by
:func:`~valora_gateway.entrypoints.app.create_http_app`). Every dependency is ``async`` on
purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hand-off per
request on the hot path.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import SecretStr
from valora_contracts.data_contract import load_data_contract

from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.entrypoints.ports import (
    ChampionReader,
    ComparablesReader,
    HealthCheck,
    JobKicker,
    JobStore,
    ListingSink,
    PredictionClient,
    PredictionReader,
)
from valora_gateway.errors import UnauthorizedError
from valora_gateway.settings import GatewaySettings

__all__ = [
    "API_KEY_HEADER",
    "ApiKeys",
    "ChampionDep",
    "ClientDep",
    "ComparablesDep",
    "HouseCheckDep",
    "JobsDep",
    "ListingsDep",
    "PredictKey",
    "PredictionsDep",
    "ReadyChecksDep",
    "RunnerDep",
    "Services",
    "SettingsDep",
    "WriteKey",
]

API_KEY_HEADER = "X-API-Key"


@dataclass
class Services:
    """Everything the routes call."""

    client: PredictionClient
    jobs: JobStore
    predictions: PredictionReader
    champion: ChampionReader
    listings: ListingSink
    runner: JobKicker | None
    ready_checks: Mapping[str, HealthCheck]
    house_check: HouseCheck = field(default_factory=lambda: HouseCheck(load_data_contract()))
    """The data contract houses are held to (default: the packaged one)."""
    comparables: ComparablesReader | None = None
    """Comparable sales (``None``: not available, answered 503)."""


@dataclass(frozen=True)
class ApiKeys:
    """The ``X-API-Key`` each guarded group of routes requires (``None``: open)."""

    write: bytes | None
    predict: bytes | None

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ApiKeys:
        key = _encoded(settings.gateway_api_key)
        return cls(write=key, predict=key if settings.gateway_api_key_for_predict else None)


def _encoded(key: SecretStr | None) -> bytes | None:
    return key.get_secret_value().encode() if key is not None else None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_client(request: Request) -> PredictionClient:
    return _services(request).client


async def get_jobs(request: Request) -> JobStore:
    return _services(request).jobs


async def get_predictions(request: Request) -> PredictionReader:
    return _services(request).predictions


async def get_champion(request: Request) -> ChampionReader:
    return _services(request).champion


async def get_listings(request: Request) -> ListingSink:
    return _services(request).listings


async def get_runner(request: Request) -> JobKicker | None:
    return _services(request).runner


async def get_house_check(request: Request) -> HouseCheck:
    return _services(request).house_check


async def get_comparables(request: Request) -> ComparablesReader | None:
    return _services(request).comparables


async def get_ready_checks(request: Request) -> Mapping[str, HealthCheck]:
    return _services(request).ready_checks


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def _check_key(request: Request, expected: bytes | None) -> None:
    if expected is None:
        return
    given = request.headers.get(API_KEY_HEADER, "").encode()
    if not secrets.compare_digest(given, expected):
        raise UnauthorizedError(f"missing or invalid {API_KEY_HEADER} header")


async def require_write_key(request: Request) -> None:
    """Write routes (``POST /listings``, ``POST /batch-jobs``) need the key when one is set."""
    keys: ApiKeys = request.app.state.api_keys
    _check_key(request, keys.write)


async def require_predict_key(request: Request) -> None:
    """``POST /predict*`` need the key only with ``gateway_api_key_for_predict``."""
    keys: ApiKeys = request.app.state.api_keys
    _check_key(request, keys.predict)


ClientDep = Annotated[PredictionClient, Depends(get_client)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
PredictionsDep = Annotated[PredictionReader, Depends(get_predictions)]
ChampionDep = Annotated[ChampionReader, Depends(get_champion)]
ListingsDep = Annotated[ListingSink, Depends(get_listings)]
RunnerDep = Annotated[JobKicker | None, Depends(get_runner)]
HouseCheckDep = Annotated[HouseCheck, Depends(get_house_check)]
ComparablesDep = Annotated[ComparablesReader | None, Depends(get_comparables)]
ReadyChecksDep = Annotated[Mapping[str, HealthCheck], Depends(get_ready_checks)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
WriteKey: Any = Depends(require_write_key)
PredictKey: Any = Depends(require_predict_key)
