"""What the code says a deployment needs, derived from the code itself (never a hand list).

Sources: the workspace's ``services/*/pyproject.toml`` (package, module, direct dependencies),
what each service states when run (``python -m valora_<service> describe``: env names,
aliases, required fields, loopback defaults, per-instance identities; see :mod:`.described`),
the dev stack's ``SERVICES`` registry (ports), the topic registry
(``valora_contracts.ALL_TOPICS``) and ``uv.lock`` (pinned versions).
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from valora_deploycheck.described import (
    DescribeError,
    SettingsEnv,
    describe_modules,
    settings_env,
)
from valora_deploycheck.findings import Finding

__all__ = [
    "PER_INSTANCE_SUFFIXES",
    "TOPIC_NAME",
    "ServiceExpectation",
    "SettingsEnv",
    "consumer_partitions",
    "discover_services",
    "is_known_topic",
    "locked_version",
    "repo_root",
    "static_topics",
]

LOOPBACK = re.compile(r"\b(127\.0\.0\.1|localhost|::1)\b")
TOPIC_NAME = re.compile(r"\b[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)+\.v[0-9]+\b")
# Per-instance identities: unique per replica (and, for transactional ids, stable across
# restarts). A settings field whose name ends so must be set per replica by a deployment.
PER_INSTANCE_SUFFIXES = ("transactional_id", "instance_id", "replica_id")
DEVSTACK_REGISTRY = "tools/devstack services.py"


def repo_root() -> Path:
    """The workspace root: the nearest parent holding ``uv.lock`` and ``services/``."""
    here = Path(__file__).resolve()
    for parent in (Path.cwd(), *here.parents):
        if (parent / "uv.lock").is_file() and (parent / "services").is_dir():
            return parent
    raise RuntimeError("cannot find the Valora workspace root (uv.lock + services/)")


@dataclass
class ServiceExpectation:
    """One deployable Valora service, as its code describes it."""

    name: str  # deployment name: services/<dir> with '_' -> '-'
    directory: Path
    package: str
    module: str
    dependencies: frozenset[str]
    importable: bool
    settings: SettingsEnv | None = None
    port: int | None = None
    port_env: str | None = None
    host_env: str | None = None
    in_devstack: bool = False
    commands: tuple[str, ...] = ()
    gaps: list[Finding] = field(default_factory=list)

    @property
    def needs_kafka(self) -> bool:
        return "valora-messaging" in self.dependencies

    @property
    def needs_db(self) -> bool:
        return "valora-db" in self.dependencies

    @property
    def needs_mlflow(self) -> bool:
        return "mlflow" in self.dependencies

    def loopback_envs(self) -> dict[str, str]:
        """Env names whose default points at the loopback interface: a container must set them.

        Infra addresses only where the service uses that component (its direct dependencies).
        """
        assert self.settings is not None
        out: dict[str, str] = {}
        infra = {
            "kafka_bootstrap_servers": self.needs_kafka,
            "database_url": self.needs_db,
            "mlflow_tracking_uri": self.needs_mlflow,
        }
        for name, default in self.settings.defaults.items():
            if default is None or not LOOPBACK.search(str(default)):
                continue
            if name in infra and not infra[name]:
                continue
            out[self.settings.env_of(name)] = name
        return out

    def required_envs(self) -> set[str]:
        assert self.settings is not None
        return {self.settings.env_of(n) for n in self.settings.required}

    def per_instance_envs(self) -> set[str]:
        assert self.settings is not None
        return {
            self.settings.env_of(n)
            for n in self.settings.by_field
            if n.endswith(PER_INSTANCE_SUFFIXES)
        }

    def transactional_envs(self) -> set[str]:
        assert self.settings is not None
        return {
            self.settings.env_of(n)
            for n in self.settings.by_field
            if n.endswith("transactional_id")
        }


def _dep_name(spec: str) -> str:
    return re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0].lower()


@cache
def _devstack_services() -> dict[str, Any]:
    from valora_devstack.services import SERVICES

    return {s.name: s for s in SERVICES}


def _service_modules(root: Path) -> list[tuple[Path, str]]:
    """(pyproject, module) of every service with exactly one ``src/valora_*`` package."""
    out = []
    for pyproject in sorted((root / "services").glob("*/pyproject.toml")):
        modules = [p.name for p in (pyproject.parent / "src").glob("valora_*") if p.is_dir()]
        if len(modules) == 1:
            out.append((pyproject, modules[0]))
    return out


def discover_services(root: Path | None = None) -> list[ServiceExpectation]:
    """Every service of the workspace (``services/*``) with what its code needs."""
    root = root or repo_root()
    found = _service_modules(root)
    described = describe_modules(
        module for _, module in found if importlib.util.find_spec(module) is not None
    )
    out: list[ServiceExpectation] = []
    for pyproject, module in found:
        meta = tomllib.loads(pyproject.read_text())["project"]
        directory = pyproject.parent
        exp = ServiceExpectation(
            name=directory.name.replace("_", "-"),
            directory=directory,
            package=meta["name"],
            module=module,
            dependencies=frozenset(_dep_name(d) for d in meta.get("dependencies", [])),
            importable=importlib.util.find_spec(module) is not None,
        )
        out.append(exp)
        where = f"services/{directory.name}"
        if not exp.importable:
            exp.gaps.append(Finding("gap", where, f"module {module} is not installed"))
            continue
        description = described.get(module)
        if not isinstance(description, dict):
            why = description if isinstance(description, DescribeError) else "not described"
            exp.gaps.append(Finding("gap", where, f"python -m {module} describe: {why}"))
            continue
        exp.settings = settings_env(description)
        exp.commands = tuple(str(c) for c in description.get("commands", ()))
        _http_interface(exp, where)
    return out


def _http_interface(exp: ServiceExpectation, where: str) -> None:
    """The bind host and the port (the dev stack's registry says which port field it is)."""
    assert exp.settings is not None
    settings = exp.settings
    hosts = [
        n
        for n in settings.by_field
        if n.endswith("host") and LOOPBACK.search(str(settings.defaults.get(n, "")))
    ]
    ports = [n for n in settings.by_field if n.endswith("port")]
    if len(hosts) == 1:
        exp.host_env = settings.env_of(hosts[0])
    else:
        exp.gaps.append(Finding("gap", where, f"expected one HTTP bind-host field, got {hosts}"))
    devstack = _devstack_services()
    spec = devstack.get(exp.name) or devstack.get(exp.directory.name)
    if spec is not None:
        exp.in_devstack = True
        exp.port, exp.port_env = int(spec.port), str(spec.port_env).upper()
        exp.gaps += _devstack_findings(exp, spec, ports)
    elif len(ports) == 1:
        exp.port = int(settings.defaults[ports[0]])
        exp.port_env = settings.env_of(ports[0])
        exp.gaps.append(
            Finding(
                "gap",
                DEVSTACK_REGISTRY,
                f"service {exp.name} is missing from the dev stack's SERVICES registry "
                f"(port taken from {settings.class_name}.{ports[0]} = {exp.port})",
            )
        )
    else:
        exp.gaps.append(Finding("gap", where, f"cannot tell the HTTP port: fields {ports}"))


def _devstack_findings(exp: ServiceExpectation, spec: Any, ports: list[str]) -> list[Finding]:
    """The dev stack's registry entry agrees with the service: port and replica identities."""
    assert exp.settings is not None
    assert exp.port_env is not None
    settings, out = exp.settings, []
    identities = set(spec.identity_envs)
    if identities != exp.per_instance_envs():
        out.append(
            Finding(
                "error",
                DEVSTACK_REGISTRY,
                f"SERVICES[{spec.name}].identity_envs {sorted(identities)} != the per-instance "
                f"settings {sorted(exp.per_instance_envs())}: replicas would share an identity",
            )
        )
    field_name = settings.field_of(exp.port_env)
    if field_name is None:
        out.append(
            Finding(
                "gap",
                DEVSTACK_REGISTRY,
                f"SERVICES[{spec.name}].port_env {spec.port_env} is not a setting of "
                f"{settings.class_name} (it reads {[settings.env_of(p) for p in ports]})",
            )
        )
    elif settings.defaults.get(field_name) != exp.port:
        out.append(
            Finding(
                "gap",
                DEVSTACK_REGISTRY,
                f"SERVICES[{spec.name}].port {spec.port} != {settings.class_name}.{field_name} "
                f"default {settings.defaults.get(field_name)}",
            )
        )
    return out


def static_topics() -> dict[str, Any]:
    from valora_contracts import ALL_TOPICS

    return {t.name: t for t in ALL_TOPICS}


def is_known_topic(name: str) -> bool:
    return name in static_topics() or bool(
        re.fullmatch(r"predictions\.replies\.[a-z0-9_-]+\.v1", name)
    )


def consumer_partitions() -> dict[str, int]:
    """Service -> partitions of the topic its consumer group scales on (more replicas than
    partitions would sit idle)."""
    from valora_contracts import (
        LISTINGS_INGESTED,
        LISTINGS_RAW,
        PREDICTIONS_REQUESTS,
        TRAINING_REQUESTS,
    )

    return {
        "ingestion": LISTINGS_RAW.partitions,
        "validator": LISTINGS_INGESTED.partitions,
        "predictor": PREDICTIONS_REQUESTS.partitions,
        "trainer": TRAINING_REQUESTS.partitions,
    }


def locked_version(package: str, root: Path | None = None) -> str | None:
    """The version of ``package`` pinned in uv.lock."""
    lock = tomllib.loads(((root or repo_root()) / "uv.lock").read_text())
    for pkg in lock.get("package", []):
        if pkg.get("name") == package:
            return str(pkg.get("version"))
    return None
