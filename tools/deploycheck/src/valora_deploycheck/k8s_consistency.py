"""The rendered Kubernetes manifests agree with the code: a workload per service with its image,
port, probes, settings, identities from the pod name, Secret references and replica bounds;
the one-shot Jobs and the retraining CronJob run real commands. Expectations come from
:mod:`.expectations`; the rules shared with compose from :mod:`.consistency`."""

from __future__ import annotations

from typing import Any

from valora_deploycheck.consistency import (
    MIGRATE_JOB,
    TOPICS_JOB,
    command_findings,
    env_findings,
    usable,
)
from valora_deploycheck.described import DescribeError, cli_settings
from valora_deploycheck.expectations import ServiceExpectation, consumer_partitions
from valora_deploycheck.findings import Finding
from valora_deploycheck.k8s import containers, pod_spec

__all__ = ["check_k8s_consistency"]

WORKLOADS = ("Deployment", "StatefulSet")
Doc = dict[str, Any]


def _container_env(ctr: Doc, configmaps: dict[str, dict[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in ctr.get("envFrom") or []:
        ref = (src.get("configMapRef") or {}).get("name")
        if ref:
            env.update(configmaps.get(ref, {}))
    for item in ctr.get("env") or []:
        env[item["name"]] = str(item.get("value", ""))
    return env


def _argv(ctr: Doc) -> list[str]:
    return [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]


class _Index:
    """The rendered documents by kind and name."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        self.configmaps = {
            d["metadata"]["name"]: {str(k): str(v) for k, v in (d.get("data") or {}).items()}
            for d in docs
            if d.get("kind") == "ConfigMap"
        }
        self.workloads = {d["metadata"]["name"]: d for d in docs if d.get("kind") in WORKLOADS}
        self.services = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Service"}
        self.hpas = {
            d["spec"]["scaleTargetRef"]["name"]: d
            for d in docs
            if d.get("kind") == "HorizontalPodAutoscaler"
        }


def check_k8s_consistency(
    docs: list[Doc], where: str, services: list[ServiceExpectation]
) -> list[Finding]:
    index = _Index(docs)
    out: list[Finding] = []
    for exp in services:
        out += _service_findings(exp, index, where)
    expected = {e.name for e in services}
    for name in index.workloads:
        if name not in expected:
            out.append(
                Finding(
                    "error", f"{where}:{name}", "workload for a service that is not in services/"
                )
            )
    out += _job_findings(index, where, services)
    return out


def _service_findings(exp: ServiceExpectation, index: _Index, where: str) -> list[Finding]:
    out: list[Finding] = []
    loc = f"{where}:{exp.name}"
    wl = index.workloads.get(exp.name)
    if wl is None:
        return [Finding("error", where, f"no Deployment/StatefulSet for service {exp.name}")]
    if not usable(exp, loc, out):
        return out
    ctr = next((c for c in containers(wl, init=False) if c.get("name") == exp.name), None)
    if ctr is None:
        return [Finding("error", loc, f"no container named {exp.name}")]
    image = str(ctr.get("image", "")).rsplit(":", 1)[0]
    if not image.endswith(f"/{exp.name}"):
        out.append(Finding("error", loc, f"image {ctr.get('image')} is not the {exp.name} image"))
    ports = {p.get("name"): p.get("containerPort") for p in ctr.get("ports") or []}
    if ports.get("http") != exp.port:
        out.append(
            Finding(
                "error", loc, f"containerPort 'http' {ports.get('http')} != code port {exp.port}"
            )
        )
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = ((ctr.get(probe) or {}).get("httpGet") or {}).get("port")
        if port not in ("http", exp.port):
            out.append(Finding("error", loc, f"{probe} port {port} is not the service port"))
    out += env_findings(exp, _container_env(ctr, index.configmaps), loc, per_instance_ok=set())
    out += _identity_findings(exp, wl, ctr, index, loc)
    service = index.services.get(exp.name)
    exposed = [
        (p.get("port"), p.get("targetPort"))
        for p in ((service or {}).get("spec") or {}).get("ports") or []
    ]
    if not service or ((exp.port, "http") not in exposed and (exp.port, exp.port) not in exposed):
        out.append(Finding("error", loc, f"Service {exp.name} must expose {exp.port} -> http"))
    limit = consumer_partitions().get(exp.name)
    if limit is not None:
        hpa = index.hpas.get(exp.name)
        most = hpa["spec"]["maxReplicas"] if hpa else wl["spec"].get("replicas", 1)
        if most > limit:
            out.append(
                Finding("error", loc, f"up to {most} replicas but its topic has {limit} partitions")
            )
    return out


def _identity_findings(
    exp: ServiceExpectation, wl: Doc, ctr: Doc, index: _Index, loc: str
) -> list[Finding]:
    """Per-instance ids from the pod name, transactional producers in a StatefulSet, the
    database URL from the Secret."""
    out: list[Finding] = []
    env = _container_env(ctr, index.configmaps)
    field_refs = {
        e["name"]
        for e in ctr.get("env") or []
        if ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.name"
    }
    for key in sorted(exp.per_instance_envs()):
        if key in env and key not in field_refs:
            out.append(Finding("error", loc, f"{key} must come from the pod name (downward API)"))
    if exp.transactional_envs() and wl["kind"] != "StatefulSet":
        out.append(
            Finding("error", loc, "transactional producer: use a StatefulSet (stable pod names)")
        )
    if exp.needs_db:
        refs = [e for e in ctr.get("env") or [] if e["name"] == "VALORA_DATABASE_URL"]
        if not refs or "secretKeyRef" not in (refs[0].get("valueFrom") or {}):
            out.append(Finding("error", loc, "VALORA_DATABASE_URL must come from the Secret"))
    return out


def _cli_settings() -> frozenset[str]:
    try:
        return cli_settings()
    except DescribeError:  # reported by the command checks already
        return frozenset()


def _job_findings(index: _Index, where: str, services: list[ServiceExpectation]) -> list[Finding]:
    """Jobs, CronJobs and init containers run real commands and set only real settings."""
    out: list[Finding] = []
    known = {n for e in services if e.settings for n in e.settings.names} | _cli_settings()
    for doc in index.docs:
        kind, name = doc.get("kind"), doc["metadata"]["name"]
        if kind in ("Job", "CronJob"):
            loc = f"{where}:{kind}/{name}"
            topics = True if name == TOPICS_JOB else False if name == MIGRATE_JOB else None
            for ctr in containers(doc):
                out += command_findings(_argv(ctr), loc, topics=topics)
                env = _container_env(ctr, index.configmaps)
                for key in (k for k in env if k.startswith("VALORA_") and k not in known):
                    out.append(Finding("error", loc, f"{key} is no Valora setting"))
        pod = pod_spec(doc)
        if pod and kind in WORKLOADS:
            for ctr in pod.get("initContainers") or []:
                loc = f"{where}:{kind}/{name}/{ctr['name']}"
                out += command_findings(_argv(ctr), loc, topics=None)
    jobs = {d["metadata"]["name"] for d in index.docs if d.get("kind") == "Job"}
    for job in (TOPICS_JOB, MIGRATE_JOB):
        if job not in jobs:
            out.append(Finding("error", where, f"Job {job} missing"))
    crons = [d for d in index.docs if d.get("kind") == "CronJob"]
    if not any(_argv(c)[:2] == ["valora", "train"] for d in crons for c in containers(d)):
        out.append(Finding("error", where, "no CronJob running `valora train`"))
    return out
