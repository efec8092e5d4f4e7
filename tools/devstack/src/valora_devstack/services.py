"""Valora's own services as dev-stack components (local processes, ``python -m <module>``),
one or more replicas each.

Tools never import services: a service is started by module name and only when its package is
installed. Each gets the stack's addresses, its own port and its log settings through the
environment: its logs go to ``<logs>/<name>.log`` (rotated by size by the service itself,
``VALORA_LOG_FILE``), anything written outside logging (a crash) to ``<name>.stdout.log``.

Replicas: replica 0 is ``<service>`` on the service's port with today's names; replica ``i``
is ``<service>-<i>`` on ``port + 100 * i``, with each per-instance identity of the service
(``identity_envs``: transactional id, instance id, replica id) set to ``<base>-<i>``, stable
across restarts of that replica.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from valora_devstack.component import Component
from valora_devstack.http_process import ServiceProcess
from valora_devstack.process import DevstackError
from valora_devstack.settings import DevstackSettings

__all__ = [
    "MAX_REPLICAS",
    "REPLICA_PORT_STEP",
    "SERVICES",
    "ServiceSpec",
    "ValoraService",
    "parse_replicas",
    "replica_name",
    "replica_port",
    "service_components",
    "service_process",
    "spec_of",
    "split_replica",
]

REPLICA_PORT_STEP = 100
MAX_REPLICAS = 9


@dataclass(frozen=True)
class ServiceSpec:
    """How the dev stack runs one service."""

    name: str
    module: str
    port: int
    port_env: str
    depends_on: tuple[str, ...]
    identity_envs: tuple[str, ...] = ()  # per-replica identities (unique, stable)
    start_timeout_s: float = 90.0


_ALL_INFRA = ("kafka", "postgres", "mlflow")
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "ingestion",
        "valora_ingestion",
        8101,
        "VALORA_INGESTION_PORT",
        ("kafka",),
        (),  # transactional ids derive from the group and partition (fenced per partition)
    ),
    ServiceSpec(
        "validator",
        "valora_validator",
        8102,
        "VALORA_VALIDATOR_PORT",
        ("kafka",),
        (),  # transactional ids derive from the group and partition (fenced per partition)
    ),
    ServiceSpec("trainer", "valora_trainer", 8103, "VALORA_TRAINER_PORT", _ALL_INFRA),
    ServiceSpec(
        "predictor",
        "valora_predictor",
        8104,
        "VALORA_PREDICTOR_PORT",
        _ALL_INFRA,
        ("VALORA_PREDICTOR_INSTANCE_ID",),
    ),
    ServiceSpec(
        "gateway",
        "valora_gateway",
        8000,
        "VALORA_GATEWAY_PORT",
        _ALL_INFRA,
        ("VALORA_GATEWAY_INSTANCE_ID",),
    ),
    ServiceSpec(
        "drift-monitor",
        "valora_drift_monitor",
        8105,
        "VALORA_DRIFT_PORT",
        _ALL_INFRA,
        ("VALORA_DRIFT_REPLICA_ID",),
    ),
)


def spec_of(name: str) -> ServiceSpec:
    """The spec of a service by name (``drift-monitor``) or module (``valora_drift_monitor``)."""
    for spec in SERVICES:
        if name in (spec.name, spec.module):
            return spec
    raise DevstackError(f"unknown service {name!r}: one of {[s.name for s in SERVICES]}")


def replica_name(service: str, index: int) -> str:
    return service if index == 0 else f"{service}-{index}"


def split_replica(name: str) -> tuple[str, int] | None:
    """``validator-2`` -> ("validator", 2); ``validator`` -> ("validator", 0); else None."""
    known = {s.name for s in SERVICES}
    if name in known:
        return name, 0
    match = re.fullmatch(r"(.+)-([1-9][0-9]*)", name)
    if match and match.group(1) in known and int(match.group(2)) < MAX_REPLICAS:
        return match.group(1), int(match.group(2))
    return None


def parse_replicas(text: str | Sequence[str] | None) -> dict[str, int]:
    """``"validator=2,ingestion=2"`` (or several such strings) -> ``{"validator": 2, ...}``."""
    parts = [text] if isinstance(text, str) else list(text or [])
    out: dict[str, int] = {}
    for item in (p.strip() for part in parts for p in part.split(",")):
        if not item:
            continue
        service, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            raise DevstackError(f"--replicas wants SERVICE=COUNT[,...], got {item!r}")
        out[spec_of(service.strip()).name] = int(number)
    for service, count in out.items():
        if not 1 <= count <= MAX_REPLICAS:
            raise DevstackError(f"{service}: between 1 and {MAX_REPLICAS} replicas, not {count}")
    return out


def replica_port(settings: DevstackSettings, spec: ServiceSpec, replica: int) -> int:
    return spec.port + settings.service_port_offset + REPLICA_PORT_STEP * replica


class ValoraService(ServiceProcess):
    """One replica of a Valora service (build it with :func:`service_process`)."""

    def __init__(
        self,
        settings: DevstackSettings,
        *,
        spec: ServiceSpec,
        replica: int,
        env: Mapping[str, str],
        start_timeout: float,
    ) -> None:
        port = replica_port(settings, spec, replica)
        super().__init__(
            settings,
            name=replica_name(spec.name, replica),
            argv=[sys.executable, "-m", spec.module],
            port=port,
            health_url=f"http://127.0.0.1:{port}/health/live",
            env=env,
            depends_on=spec.depends_on,
            marker=f"-m {spec.module}",
            start_timeout=start_timeout,
        )
        self.spec = spec
        self.service = spec.name
        self.replica = replica

    @property
    def service_log(self) -> Path:
        """The service's own (size-rotated) log; ``log_file`` keeps its stdout/stderr."""
        return self.settings.log_dir / f"{self.name}.log"

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / f"{self.name}.stdout.log"

    @property
    def log_max_bytes(self) -> int:
        return self.settings.crash_log_max_bytes

    @property
    def diagnostic_logs(self) -> list[Path]:
        return [self.service_log, self.log_file]


def _identities(spec: ServiceSpec, replica: int, given: Mapping[str, str]) -> dict[str, str]:
    if replica == 0:
        return {}
    default = f"valora-{spec.name}-{socket.gethostname()}"
    return {env: f"{given.get(env) or default}-{replica}" for env in spec.identity_envs}


def kafka_security_env(settings: DevstackSettings) -> dict[str, str]:
    """The stack's Kafka security settings, for the processes it starts."""
    env: dict[str, str] = {
        "VALORA_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "VALORA_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
    }
    if settings.kafka_sasl_username:
        env["VALORA_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password:
        env["VALORA_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    return env


def service_process(
    settings: DevstackSettings,
    spec: ServiceSpec,
    *,
    replica: int = 0,
    extra_env: Mapping[str, str] | None = None,
    start_timeout: float | None = None,
) -> ValoraService:
    """Replica ``replica`` of ``spec`` as a dev-stack process wired to ``settings``'
    infrastructure (``extra_env`` is added first, so it cannot override the stack's addresses;
    a replica's identities are derived from it)."""
    if not 0 <= replica < MAX_REPLICAS:
        raise DevstackError(f"{spec.name}: replica {replica} is not in 0..{MAX_REPLICAS - 1}")
    given = dict(extra_env or {})
    log = settings.log_dir / f"{replica_name(spec.name, replica)}.log"
    env = {
        **given,
        **_identities(spec, replica, given),
        "VALORA_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        **kafka_security_env(settings),
        "VALORA_DATABASE_URL": settings.database_url_str,
        "VALORA_MLFLOW_TRACKING_URI": settings.mlflow_url_str,
        "VALORA_STATE_DIR": str(settings.state_path),
        "VALORA_LOG_FILE": str(log),
        "VALORA_LOG_MAX_BYTES": str(settings.log_max_bytes),
        "VALORA_LOG_BACKUPS": str(settings.log_backups),
        spec.port_env: str(replica_port(settings, spec, replica)),
    }
    timeout = spec.start_timeout_s if start_timeout is None else start_timeout
    return ValoraService(settings, spec=spec, replica=replica, env=env, start_timeout=timeout)


def _running_replicas(settings: DevstackSettings, spec: ServiceSpec) -> int:
    """1 + the highest replica index that has a pid file (started and not stopped since)."""
    indexes = [0]
    for pid_file in settings.run_dir.glob(f"{spec.name}-*.pid"):
        found = split_replica(pid_file.stem)
        if found is not None and found[0] == spec.name:
            indexes.append(found[1])
    return max(indexes) + 1


def service_components(
    settings: DevstackSettings, replicas: Mapping[str, int] | None = None
) -> list[Component]:
    """Every installed service, each with ``replicas[name]`` replicas (default 1) or as many as
    have pid files, whichever is more (so ``status`` and ``down`` see every started one)."""
    wanted = dict(replicas or {})
    out: list[Component] = []
    for spec in SERVICES:
        if importlib.util.find_spec(spec.module) is None:
            continue
        count = max(wanted.get(spec.name, 1), _running_replicas(settings, spec))
        out += [service_process(settings, spec, replica=i) for i in range(count)]
    return out
