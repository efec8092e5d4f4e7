"""The compose file, the manifests, the Dockerfile, Prometheus/Grafana and the Kubeflow pipeline
agree with the code: every service, port, environment variable and topic it needs is there, and
nothing set there is unknown to the code. Expectations come from :mod:`expectations`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from valora_deploycheck.cli_commands import check_valora_command
from valora_deploycheck.compose import ComposeProject, service_env
from valora_deploycheck.expectations import (
    ServiceExpectation,
    consumer_partitions,
    repo_root,
)
from valora_deploycheck.findings import Finding
from valora_deploycheck.k8s import containers, pod_spec
from valora_deploycheck.pycode import call_keyword, check_python_snippet, python_snippet

__all__ = [
    "check_compose_consistency",
    "check_k8s_consistency",
]

TOPICS_JOB = "kafka-topics"
MIGRATE_JOB = "db-migrate"


def _usable(exp: ServiceExpectation, where: str, out: list[Finding]) -> bool:
    if exp.settings is None or exp.port is None:
        out.append(
            Finding("pending", where, f"{exp.name}: code incomplete, consistency not checked")
        )
        return False
    return True


def _env_findings(
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
    if exp.host_env in env and env[exp.host_env] not in ("0.0.0.0", "::", ""):  # noqa: S104
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
        if not _usable(exp, loc, out):
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
        out += _env_findings(exp, env, loc, per_instance_ok=set())
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
    return _command_findings(argv, loc, topics=topics)


def _command_findings(argv: list[str], loc: str, *, topics: bool | None) -> list[Finding]:
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


# ------------------------------------------------------------------------------------- k8s
def _container_env(
    doc: dict[str, Any], ctr: dict[str, Any], configmaps: dict[str, dict[str, str]]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in ctr.get("envFrom") or []:
        ref = (src.get("configMapRef") or {}).get("name")
        if ref:
            env.update(configmaps.get(ref, {}))
    for item in ctr.get("env") or []:
        env[item["name"]] = str(item.get("value", ""))
    return env


def check_k8s_consistency(
    docs: list[dict[str, Any]], where: str, services: list[ServiceExpectation]
) -> list[Finding]:
    out: list[Finding] = []
    configmaps = {
        d["metadata"]["name"]: {str(k): str(v) for k, v in (d.get("data") or {}).items()}
        for d in docs
        if d.get("kind") == "ConfigMap"
    }
    workloads = {
        d["metadata"]["name"]: d for d in docs if d.get("kind") in ("Deployment", "StatefulSet")
    }
    svcs = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Service"}
    hpas = {
        d["spec"]["scaleTargetRef"]["name"]: d
        for d in docs
        if d.get("kind") == "HorizontalPodAutoscaler"
    }
    partitions = consumer_partitions()
    expected = {e.name for e in services}
    for exp in services:
        loc = f"{where}:{exp.name}"
        wl = workloads.get(exp.name)
        if wl is None:
            out.append(Finding("error", where, f"no Deployment/StatefulSet for service {exp.name}"))
            continue
        if not _usable(exp, loc, out):
            continue
        ctr = next((c for c in containers(wl, init=False) if c.get("name") == exp.name), None)
        if ctr is None:
            out.append(Finding("error", loc, f"no container named {exp.name}"))
            continue
        image = str(ctr.get("image", "")).rsplit(":", 1)[0]
        if not image.endswith(f"/{exp.name}"):
            out.append(
                Finding("error", loc, f"image {ctr.get('image')} is not the {exp.name} image")
            )
        ports = {p.get("name"): p.get("containerPort") for p in ctr.get("ports") or []}
        if ports.get("http") != exp.port:
            out.append(
                Finding(
                    "error",
                    loc,
                    f"containerPort 'http' {ports.get('http')} != code port {exp.port}",
                )
            )
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((ctr.get(probe) or {}).get("httpGet") or {}).get("port")
            if port not in ("http", exp.port):
                out.append(Finding("error", loc, f"{probe} port {port} is not the service port"))
        env = _container_env(wl, ctr, configmaps)
        field_refs = {
            e["name"]
            for e in ctr.get("env") or []
            if ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            == "metadata.name"
        }
        out += _env_findings(exp, env, loc, per_instance_ok=set())
        for key in sorted(exp.per_instance_envs()):
            if key in env and key not in field_refs:
                out.append(
                    Finding("error", loc, f"{key} must come from the pod name (downward API)")
                )
        if exp.transactional_envs() and wl["kind"] != "StatefulSet":
            out.append(
                Finding(
                    "error", loc, "transactional producer: use a StatefulSet (stable pod names)"
                )
            )
        if exp.needs_db:
            refs = [e for e in ctr.get("env") or [] if e["name"] == "VALORA_DATABASE_URL"]
            if not refs or "secretKeyRef" not in (refs[0].get("valueFrom") or {}):
                out.append(Finding("error", loc, "VALORA_DATABASE_URL must come from the Secret"))
        service = svcs.get(exp.name)
        sports = [
            (p.get("port"), p.get("targetPort"))
            for p in ((service or {}).get("spec") or {}).get("ports") or []
        ]
        if not service or ((exp.port, "http") not in sports and (exp.port, exp.port) not in sports):
            out.append(Finding("error", loc, f"Service {exp.name} must expose {exp.port} -> http"))
        limit = partitions.get(exp.name)
        if limit is not None:
            hpa = hpas.get(exp.name)
            most = hpa["spec"]["maxReplicas"] if hpa else wl["spec"].get("replicas", 1)
            if most > limit:
                out.append(
                    Finding(
                        "error", loc, f"up to {most} replicas but its topic has {limit} partitions"
                    )
                )
    for name in workloads:
        if name not in expected:
            out.append(
                Finding(
                    "error", f"{where}:{name}", "workload for a service that is not in services/"
                )
            )
    for doc in docs:
        if doc.get("kind") in ("Job", "CronJob"):
            name = doc["metadata"]["name"]
            for ctr in containers(doc):
                argv = [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
                topics = True if name == TOPICS_JOB else False if name == MIGRATE_JOB else None
                out += _command_findings(argv, f"{where}:{doc['kind']}/{name}", topics=topics)
                env = _container_env(doc, ctr, configmaps)
                unknown = [
                    k
                    for k in env
                    if k.startswith("VALORA_")
                    and not any(k in e.settings.names for e in services if e.settings)
                ]
                for key in unknown:
                    out.append(
                        Finding(
                            "error", f"{where}:{doc['kind']}/{name}", f"{key} is no Valora setting"
                        )
                    )
        pod = pod_spec(doc)
        if pod and doc.get("kind") in ("Deployment", "StatefulSet"):
            for ctr in pod.get("initContainers") or []:
                argv = [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
                out += _command_findings(
                    argv,
                    f"{where}:{doc['kind']}/{doc['metadata']['name']}/{ctr['name']}",
                    topics=None,
                )
    jobs = {d["metadata"]["name"] for d in docs if d.get("kind") == "Job"}
    for job in (TOPICS_JOB, MIGRATE_JOB):
        if job not in jobs:
            out.append(Finding("error", where, f"Job {job} missing"))
    crons = [d for d in docs if d.get("kind") == "CronJob"]
    if not any(
        [str(a) for c in containers(d) for a in (c.get("command") or []) + (c.get("args") or [])][
            :2
        ]
        == ["valora", "train"]
        for d in crons
    ):
        out.append(Finding("error", where, "no CronJob running `valora train`"))
    return out
