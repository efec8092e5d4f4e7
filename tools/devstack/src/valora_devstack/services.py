"""Valora's own services as dev-stack components (local processes, ``python -m <module>``).

Libraries never import services: a service is started by module name and only when its package
is installed. Each gets the stack's addresses and its own port through the environment.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from valora_devstack.component import Component, ServiceProcess
from valora_devstack.settings import DevstackSettings

__all__ = ["SERVICES", "ServiceSpec", "service_factories", "service_process"]


@dataclass(frozen=True)
class ServiceSpec:
    """How the dev stack runs one service."""

    name: str
    module: str
    port: int
    port_env: str
    depends_on: tuple[str, ...]
    start_timeout_s: float = 90.0


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingestion", "valora_ingestion", 8101, "VALORA_INGESTION_PORT", ("kafka",)),
    ServiceSpec("validator", "valora_validator", 8102, "VALORA_VALIDATOR_PORT", ("kafka",)),
    ServiceSpec(
        "trainer", "valora_trainer", 8103, "VALORA_TRAINER_PORT", ("kafka", "postgres", "mlflow")
    ),
    ServiceSpec(
        "predictor",
        "valora_predictor",
        8104,
        "VALORA_PREDICTOR_PORT",
        ("kafka", "postgres", "mlflow"),
    ),
    ServiceSpec(
        "gateway", "valora_gateway", 8000, "VALORA_GATEWAY_PORT", ("kafka", "postgres", "mlflow")
    ),
    ServiceSpec(
        "drift-monitor",
        "valora_drift_monitor",
        8105,
        "VALORA_DRIFT_PORT",
        ("kafka", "postgres", "mlflow"),
    ),
)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def service_process(
    settings: DevstackSettings,
    spec: ServiceSpec,
    *,
    extra_env: Mapping[str, str] | None = None,
    start_timeout: float | None = None,
) -> ServiceProcess:
    """``spec`` as a dev-stack process wired to ``settings``' infrastructure (``extra_env`` is
    added first, so it cannot override the stack's addresses)."""
    port = spec.port + settings.service_port_offset
    return ServiceProcess(
        settings,
        name=spec.name,
        argv=[sys.executable, "-m", spec.module],
        port=port,
        health_url=f"http://127.0.0.1:{port}/health/live",
        env={
            **(extra_env or {}),
            "VALORA_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "VALORA_DATABASE_URL": settings.database_url_str,
            "VALORA_MLFLOW_TRACKING_URI": settings.mlflow_url_str,
            "VALORA_STATE_DIR": str(settings.state_path),
            spec.port_env: str(port),
        },
        depends_on=spec.depends_on,
        marker=f"-m {spec.module}",
        start_timeout=spec.start_timeout_s if start_timeout is None else start_timeout,
    )


def _factory(spec: ServiceSpec) -> Callable[[DevstackSettings], Component | None]:
    def build(settings: DevstackSettings) -> Component | None:
        if not _installed(spec.module):
            return None
        return service_process(settings, spec)

    build.__name__ = f"service_{spec.name}"
    return build


def service_factories() -> list[Callable[[DevstackSettings], Component | None]]:
    return [_factory(spec) for spec in SERVICES]
