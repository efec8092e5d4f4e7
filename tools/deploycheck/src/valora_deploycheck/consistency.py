"""The compose file agrees with the code: every service, port, environment variable and job it
needs is there, and nothing set there is unknown to the code; plus the rules the Kubernetes
check (:mod:`.k8s_consistency`) shares. Expectations come from :mod:`.expectations`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from valora_deploycheck.cli_commands import check_valora_command
from valora_deploycheck.compose import ComposeProject, service_env
from valora_deploycheck.expectations import (
    ServiceExpectation,
    repo_root,
)
from valora_deploycheck.findings import Finding
from valora_deploycheck.pycode import call_keyword, check_python_snippet, python_snippet

__all__ = [
    "MIGRATE_JOB",
    "TOPICS_JOB",
    "check_compose_consistency",
    "command_findings",
    "env_findings",
    "usable",
]

TOPICS_JOB = "kafka-topics"
MIGRATE_JOB = "db-migrate"


def usable(exp: ServiceExpectation, where: str, out: list[Finding]) -> bool:
    if exp.settings is None or exp.port is None:
        out.append(
            Finding("pending", where, f"{exp.name}: code incomplete, consistency not checked")
        )
        return False
    return True


def env_findings(
    exp: ServiceExpectation, env: dict[str, str], loc: str, *, per_instance_ok: set[str]
) -> list[Finding]:
    """``env``: name -> value ('' when set from a reference)."""
    assert exp.settings is not None
    assert exp.port_env
    assert exp.host_env
    out: list[Finding] = []
    known = exp.settings.names
    for key in env:
        if key.startswith("VALORA_") and key.upper() not in known:
            out.append(
                Finding("error", loc, f"{key} is not a setting of {exp.settings.class_name}")
            )
    for key in sorted(exp.required_envs() | set(exp.loopback_envs()) | {exp.port_env}):
        if key not in env:
            why = "required" if key in exp.required_envs() else "its default is a loopback address"
            out.append(Finding("error", loc, f"{key} missing ({why})"))
    if exp.port_env in env and env[exp.port_env] not in ("", str(exp.port)):
        out.append(
            Finding(
                "error", loc, f"{exp.port_env}={env[exp.port_env]}, the code's port is {exp.port}"
            )
        )
    # A comparison with the container's bind address, not a bind (ruff S104, bandit B104).
    if exp.host_env in env and env[exp.host_env] not in ("0.0.0.0", "::", ""):  # noqa: S104  # nosec B104
        out.append(Finding("error", loc, f"{exp.host_env} must bind all interfaces in a container"))
    for key in sorted(exp.per_instance_envs()):
        if key not in env and key not in per_instance_ok:
            out.append(Finding("error", loc, f"{key} must be set per replica (unique, stable)"))
    return out


# ------------------------------------------------------------------------------------- compose
def check_compose_consistency(
    project: ComposeProject, services: list[ServiceExpectation]
) -> list[Finding]:
    out: list[Finding] = []
    cs = project.services
    where = project.path.name
    expected = {e.name for e in services}
    for exp in services:
        loc = f"{where}:services.{exp.name}"
        svc = cs.get(exp.name)
        if svc is None:
            out.append(Finding("error", where, f"service {exp.name} ({exp.package}) missing"))
            continue
        if not usable(exp, loc, out):
            continue
        args = ((svc.get("build") or {}).get("args")) or {}
        for key, want in (
            ("PACKAGE", exp.package),
            ("MODULE", exp.module),
            ("PORT", str(exp.port)),
        ):
            if str(args.get(key)) != want:
                out.append(
                    Finding("error", loc, f"build arg {key}={args.get(key)}, code says {want}")
                )
        env = service_env(svc)
        out += env_findings(exp, env, loc, per_instance_ok=set())
        if (
            exp.needs_kafka
            and env.get("VALORA_KAFKA_BOOTSTRAP_SERVERS", "").split(":")[0] not in cs
        ):
            out.append(
                Finding(
                    "error", loc, "VALORA_KAFKA_BOOTSTRAP_SERVERS does not name the compose Kafka"
                )
            )
        deps = svc.get("depends_on") or {}
        needs = [
            (exp.needs_kafka, TOPICS_JOB, "service_completed_successfully"),
            (exp.needs_db, MIGRATE_JOB, "service_completed_successfully"),
            (exp.needs_mlflow, "mlflow", "service_healthy"),
        ]
        for needed, dep, cond in needs:
            if needed and (deps.get(dep) or {}).get("condition") != cond:
                out.append(Finding("error", loc, f"must depend on {dep} ({cond})"))
        if exp.needs_db and "VALORA_DATABASE_URL" not in env:
            out.append(
                Finding("error", loc, "VALORA_DATABASE_URL missing (service uses valora-db)")
            )
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        if f":{exp.port}/health/" not in test:
            out.append(Finding("error", loc, f"healthcheck does not probe :{exp.port}/health/*"))
    for name, svc in cs.items():
        args = ((svc.get("build") or {}).get("args")) or {}
        if "MODULE" in args and name not in expected:
            out.append(
                Finding(
                    "error", f"{where}:services.{name}", "builds a service that is not in services/"
                )
            )
    out += _job_findings(cs.get(TOPICS_JOB), f"{where}:services.{TOPICS_JOB}", topics=True)
    out += _job_findings(cs.get(MIGRATE_JOB), f"{where}:services.{MIGRATE_JOB}", topics=False)
    kafka_image = str((cs.get("kafka") or {}).get("image", ""))
    out += _kafka_version(kafka_image, f"{where}:services.kafka")
    return out


def _job_findings(svc: dict[str, Any] | None, loc: str, *, topics: bool) -> list[Finding]:
    if svc is None:
        return [Finding("error", loc, "one-shot job missing")]
    argv = [str(a) for a in (svc.get("entrypoint") or []) + (svc.get("command") or [])]
    return command_findings(argv, loc, topics=topics)


def command_findings(argv: list[str], loc: str, *, topics: bool | None) -> list[Finding]:
    """A job's command: ``valora ops create-topics`` / ``valora ops migrate`` (or an equivalent
    ``python -c`` snippet calling ``ensure_topics(topics=ALL_TOPICS)`` / ``upgrade_head``)."""
    out: list[Finding] = []
    code = python_snippet(argv)
    if code is not None:
        out += check_python_snippet(code, loc)
    is_valora = bool(argv) and Path(argv[0]).name == "valora"
    words = argv[1:3] if is_valora else []
    if (
        topics is True
        and words != ["ops", "create-topics"]
        and (code is None or call_keyword(code, "ensure_topics", "topics") != "ALL_TOPICS")
    ):
        out.append(
            Finding("error", loc, "must create every registry topic (valora ops create-topics)")
        )
    if (
        topics is False
        and words != ["ops", "migrate"]
        and (code is None or not re.search(r"\bupgrade_head\(", code))
    ):
        out.append(Finding("error", loc, "must run the migrations (valora ops migrate)"))
    if is_valora:
        out += check_valora_command(argv[1:], loc, repo_root())
    return out


def _kafka_version(image: str, loc: str) -> list[Finding]:
    from valora_devstack.settings import DevstackSettings

    want = DevstackSettings.model_fields["kafka_version"].default
    if not image.startswith("apache/kafka:") or image.split(":", 1)[1] != want:
        return [
            Finding("error", loc, f"image {image}: expected apache/kafka:{want} (the dev stack's)")
        ]
    return []
