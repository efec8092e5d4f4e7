"""What routes depend on, declared once: ``XDep = Annotated[X, Depends(get_x)]``.

The app keeps one :class:`Services` container and the settings on ``app.state`` (set by
:func:`~valora_gateway.entrypoints.app.create_http_app`). Every dependency is ``async`` on
purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hand-off per
request on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from valora_contracts.data_contract import load_data_contract

from valora_gateway.domain.house_check import HouseCheck
from valora_gateway.entrypoints.auth import Scoped
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
from valora_gateway.settings import GatewaySettings

__all__ = [
    "ChampionDep",
    "ClientDep",
    "ComparablesDep",
    "HouseCheckDep",
    "JobsDep",
    "ListingsDep",
    "PredictScope",
    "PredictionsDep",
    "PublishScope",
    "ReadScope",
    "ReadyChecksDep",
    "RunnerDep",
    "Services",
    "ServicesDep",
    "SettingsDep",
]


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


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return _services(request)


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


ServicesDep = Annotated[Services, Depends(get_services)]
"""The whole container, for ``POST /predict``: FastAPI resolves each dependency per request
(about 10 us each), and the hottest route needs three of its parts."""
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
PredictScope: Any = Depends(Scoped("predict"))
PublishScope: Any = Depends(Scoped("publish"))
ReadScope: Any = Depends(Scoped("read"))
