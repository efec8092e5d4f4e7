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


def discover_services(root: Path | None = None) -> list[ServiceExpectation]:
    """Every service of the workspace (``services/*``) with what its code needs."""
    root = root or repo_root()
    devstack = _devstack_services()
    out: list[ServiceExpectation] = []
    pyprojects = sorted((root / "services").glob("*/pyproject.toml"))
    described = describe_modules(
        m.name
        for p in pyprojects
        for m in (p.parent / "src").glob("valora_*")
        if m.is_dir() and importlib.util.find_spec(m.name) is not None
    )
    for pyproject in pyprojects:
        meta = tomllib.loads(pyproject.read_text())["project"]
        directory = pyproject.parent
        modules = [p.name for p in (directory / "src").glob("valora_*") if p.is_dir()]
        if len(modules) != 1:
            continue
        module = modules[0]
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
        hosts = [
            n
            for n in exp.settings.by_field
            if n.endswith("host") and LOOPBACK.search(str(exp.settings.defaults.get(n, "")))
        ]
        ports = [n for n in exp.settings.by_field if n.endswith("port")]
        if len(hosts) == 1:
            exp.host_env = exp.settings.env_of(hosts[0])
        else:
            exp.gaps.append(
                Finding("gap", where, f"expected one HTTP bind-host field, got {hosts}")
            )
        spec = devstack.get(exp.name) or devstack.get(directory.name)
        if spec is not None:
            exp.in_devstack = True
            exp.port, exp.port_env = int(spec.port), str(spec.port_env).upper()
            identities = set(getattr(spec, "identity_envs", ()))
            if identities != exp.per_instance_envs():
                exp.gaps.append(
                    Finding(
                        "error",
                        "tools/devstack services.py",
                        f"SERVICES[{spec.name}].identity_envs {sorted(identities)} != the "
                        f"per-instance settings {sorted(exp.per_instance_envs())}: replicas "
                        "would share an identity",
                    )
                )
            field_name = exp.settings.field_of(exp.port_env)
            if field_name is None:
                exp.gaps.append(
                    Finding(
                        "gap",
                        "tools/devstack services.py",
                        f"SERVICES[{spec.name}].port_env {spec.port_env} is not a setting of "
                        f"{exp.settings.class_name} (it reads "
                        f"{[exp.settings.env_of(p) for p in ports]})",
                    )
                )
            elif exp.settings.defaults.get(field_name) != exp.port:
                exp.gaps.append(
                    Finding(
                        "gap",
                        "tools/devstack services.py",
                        f"SERVICES[{spec.name}].port {spec.port} != {exp.settings.class_name}."
                        f"{field_name} default {exp.settings.defaults.get(field_name)}",
                    )
                )
        elif len(ports) == 1:
            exp.port = int(exp.settings.defaults[ports[0]])
            exp.port_env = exp.settings.env_of(ports[0])
            exp.gaps.append(
                Finding(
                    "gap",
                    "tools/devstack services.py",
                    f"service {exp.name} is missing from the dev stack's SERVICES registry "
                    f"(port taken from {exp.settings.class_name}.{ports[0]} = {exp.port})",
                )
            )
        else:
            exp.gaps.append(Finding("gap", where, f"cannot tell the HTTP port: fields {ports}"))
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
