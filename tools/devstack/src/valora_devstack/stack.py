"""The dev stack: a registry of components and ``up`` / ``down`` / ``status`` over them.

Components start in dependency waves (independent ones in parallel: PostgreSQL and Kafka start
together, MLflow after PostgreSQL, Prometheus after the services) and stop in reverse order.
Valora services run as one or more replicas (``up(replicas={"validator": 2})``; see
:mod:`.services`); ``only`` names a component (``validator-1``) or a service (``validator``: all
its replicas), and :func:`component` finds one by name to ``up``/``down``/``freeze``/``thaw``
it alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from valora_devstack.component import Component, ComponentStatus, ProcessComponent, State
from valora_devstack.kafka import KafkaBroker, external_kafka
from valora_devstack.kafka_jars import kafka_classpath
from valora_devstack.mlflow_server import MlflowServer
from valora_devstack.monitoring import (
    MONITORING,
    Alertmanager,
    Prometheus,
    find_binary,
    refresh_targets,
)
from valora_devstack.postgres import PostgresCluster, external_postgres, find_pg_bin
from valora_devstack.process import DevstackError
from valora_devstack.services import service_components, split_replica
from valora_devstack.settings import DevstackSettings

__all__ = [
    "INFRASTRUCTURE",
    "ComponentFactory",
    "StackInfo",
    "UpResult",
    "component",
    "components",
    "down",
    "fetch",
    "freeze",
    "info",
    "register_component",
    "services_paused",
    "status",
    "thaw",
    "up",
]

logger = logging.getLogger(__name__)

ComponentFactory = Callable[[DevstackSettings], Component | None]


def _postgres(settings: DevstackSettings) -> Component:
    if settings.postgres_is_managed:
        return PostgresCluster(settings)
    return external_postgres(settings)


def _kafka(settings: DevstackSettings) -> Component:
    return KafkaBroker(settings) if settings.kafka_is_managed else external_kafka(settings)


INFRASTRUCTURE = ("postgres", "kafka", "mlflow")
"""The real components everything else needs; tests bring up only these."""

_REGISTRY: list[ComponentFactory] = [_postgres, _kafka, MlflowServer, Alertmanager, Prometheus]


def register_component(factory: ComponentFactory) -> ComponentFactory:
    """Add a component (e.g. a Valora service as ``ServiceProcess``) to every stack built later.

    A factory returning None is skipped (for components that depend on configuration).
    """
    if factory not in _REGISTRY:
        _REGISTRY.append(factory)
    return factory


def components(
    settings: DevstackSettings | None = None,
    *,
    replicas: Mapping[str, int] | None = None,
    only: Iterable[str] | None = None,
) -> list[Component]:
    """Every component: the registry's, then each service's replicas (``replicas``, at least
    the ones with pid files, and any replica ``only`` names)."""
    settings = settings or DevstackSettings()
    wanted = dict(replicas or {})
    for name in only or ():
        found = split_replica(name)
        if found is not None:
            wanted[found[0]] = max(wanted.get(found[0], 1), found[1] + 1)
    built = [c for f in _REGISTRY if (c := f(settings)) is not None]
    return built + service_components(settings, wanted)


def component(settings: DevstackSettings, name: str) -> Component:
    """The component called ``name`` (e.g. ``validator-1``), started or not."""
    for c in components(settings, only=[name]):
        if c.name == name:
            return c
    raise DevstackError(f"unknown component {name!r}")


def freeze(settings: DevstackSettings, name: str) -> int:
    """SIGSTOP component ``name`` (e.g. one replica, past its session timeout); its pid."""
    return _process(settings, name).freeze()


def thaw(settings: DevstackSettings, name: str) -> int:
    """SIGCONT component ``name`` after :func:`freeze`; its pid."""
    return _process(settings, name).thaw()


def _process(settings: DevstackSettings, name: str) -> ProcessComponent:
    found = component(settings, name)
    if not isinstance(found, ProcessComponent):
        raise DevstackError(f"{name} is not a process the dev stack runs")
    return found


def _waves(comps: Sequence[Component]) -> list[list[Component]]:
    by_name = {c.name: c for c in comps}
    done: set[str] = set()
    waves: list[list[Component]] = []
    pending = list(comps)
    while pending:
        wave = [c for c in pending if all(d in done or d not in by_name for d in c.depends_on)]
        if not wave:
            raise DevstackError(f"dependency cycle among {[c.name for c in pending]}")
        waves.append(wave)
        done.update(c.name for c in wave)
        pending = [c for c in pending if c not in wave]
    return waves


@dataclass(frozen=True)
class StackInfo:
    """Where the stack's services are; what clients and tests need."""

    kafka_bootstrap_servers: str
    database_url: str
    mlflow_tracking_uri: str

    @classmethod
    def from_settings(cls, settings: DevstackSettings) -> StackInfo:
        return cls(
            kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
            database_url=settings.database_url_str,
            mlflow_tracking_uri=settings.mlflow_url_str,
        )


@dataclass(frozen=True)
class UpResult:
    info: StackInfo
    started: list[str] = field(default_factory=list)
    statuses: list[ComponentStatus] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _names(c: Component) -> set[str]:
    """A component answers to its name and, for a service replica, to its service's name."""
    return {c.name, str(getattr(c, "service", c.name))}


def _select(comps: Sequence[Component], only: Iterable[str] | None) -> list[Component]:
    if only is None:
        return list(comps)
    wanted = set(only)
    unknown = wanted - {n for c in comps for n in _names(c)}
    if unknown:
        raise DevstackError(f"unknown components: {sorted(unknown)}")
    return [c for c in comps if _names(c) & wanted]


def up(
    settings: DevstackSettings | None = None,
    *,
    only: Iterable[str] | None = None,
    replicas: Mapping[str, int] | None = None,
) -> UpResult:
    """Start what is not running (idempotent: healthy components are left alone).

    ``replicas``: how many replicas of a service to run (``{"validator": 2}``; default 1).
    """
    settings = settings or DevstackSettings()
    only = None if only is None else list(only)
    comps = _select(components(settings, replicas=replicas, only=only), only)
    started: list[str] = []
    seconds: dict[str, float] = {}
    t_all = time.monotonic()

    def bring_up(c: Component) -> tuple[str, bool, float]:
        t0 = time.monotonic()
        did_start = c.up()
        return c.name, did_start, round(time.monotonic() - t0, 2)

    for wave in _waves(comps):
        with ThreadPoolExecutor(max_workers=len(wave)) as pool:
            futures = [pool.submit(bring_up, c) for c in wave]
            errors: list[BaseException] = []
            for fut in futures:
                try:
                    name, did_start, secs = fut.result()
                except BaseException as exc:
                    errors.append(exc)
                    continue
                seconds[name] = secs
                if did_start:
                    started.append(name)
            if errors:
                raise errors[0]
    refresh_targets(settings)  # Prometheus scrapes every replica running now
    logger.info(
        "stack up",
        extra={
            "started": started,
            "component_s": seconds,
            "total_s": round(time.monotonic() - t_all, 2),
        },
    )
    return UpResult(
        info=StackInfo.from_settings(settings),
        started=started,
        statuses=[c.status() for c in comps],
        seconds=seconds,
    )


def down(
    settings: DevstackSettings | None = None, *, only: Iterable[str] | None = None
) -> list[str]:
    """Stop the stack's processes (reverse dependency order, every replica); returns the names
    stopped."""
    settings = settings or DevstackSettings()
    only = None if only is None else list(only)
    comps = _select(components(settings, only=only), only)
    stopped: list[str] = []
    for wave in reversed(_waves(comps)):
        for c in reversed(wave):
            if c.down():
                stopped.append(c.name)
    refresh_targets(settings)
    logger.info("stack down", extra={"stopped": stopped})
    return stopped


def status(settings: DevstackSettings | None = None) -> list[ComponentStatus]:
    settings = settings or DevstackSettings()
    return [c.status() for c in components(settings)]


def info(settings: DevstackSettings | None = None) -> StackInfo:
    return StackInfo.from_settings(settings or DevstackSettings())


def fetch(settings: DevstackSettings | None = None) -> dict[str, str]:
    """Fetch what ``up`` needs ahead of time (the Kafka jars) and locate the binaries
    (PostgreSQL's, Prometheus and Alertmanager: ``make monitoring`` installs the latter)."""
    settings = settings or DevstackSettings()
    found: dict[str, str] = {}
    if settings.kafka_is_managed:
        found["kafka_classpath"] = kafka_classpath(settings)
    if settings.postgres_is_managed:
        found["postgres_bin"] = str(find_pg_bin())
    found["prometheus_bin"] = find_binary(settings.prometheus_bin)
    found["alertmanager_bin"] = find_binary(settings.alertmanager_bin, "alertmanager")
    return found


@contextmanager
def services_paused(settings: DevstackSettings | None = None) -> Iterator[list[str]]:
    """Stop the stack's running Valora services for a while (tests and benchmarks run their own
    instances, which must not share input with them), and start them again afterwards."""
    settings = settings or DevstackSettings()
    paused = [
        s.name
        for s in status(settings)
        if s.name not in (*INFRASTRUCTURE, *MONITORING) and s.state is not State.STOPPED
    ]
    if paused:
        logger.warning("pausing dev-stack services", extra={"services": paused})
        down(settings, only=paused)
    try:
        yield paused
    finally:
        if paused:
            up(settings, only=paused)
