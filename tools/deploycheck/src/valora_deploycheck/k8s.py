"""Offline checks of the Kubernetes manifests: render each kustomize overlay with the real
``kustomize`` binary, validate every resource with ``kubernetes-validate --strict`` (schemas
shipped in the package), then the platform's own rules (probes, resources, security context,
HPAs, PDBs, NetworkPolicies, Secrets)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

from valora_deploycheck.findings import Finding
from valora_deploycheck.k8s_network import (
    WORKLOAD_KINDS,
    check_network_policies,
    ident,
    selects,
)
from valora_deploycheck.monitoring import MONITORING_API

__all__ = [
    "K8S_VERSIONS",
    "OVERLAYS",
    "KustomizeError",
    "check_manifests",
    "containers",
    "find_kustomize",
    "render_overlay",
    "validate_schemas",
]

OVERLAYS = ("dev", "staging", "prod")
# Oldest still-supported and newest minor versions whose schemas kubernetes-validate ships.
K8S_VERSIONS = tuple(
    v for v in os.environ.get("DEPLOYCHECK_K8S_VERSIONS", "1.33.0,1.37.0").split(",") if v
)


class KustomizeError(RuntimeError):
    pass


def find_kustomize() -> list[str]:
    """argv prefix of a kustomize build: $KUSTOMIZE, ``kustomize`` on PATH or in
    ``$(go env GOPATH)/bin``, else ``kubectl kustomize``."""
    explicit = os.environ.get("KUSTOMIZE")
    if explicit:
        return [explicit, "build"]
    found = shutil.which("kustomize")
    if found is None:
        gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
        candidate = Path(gopath) / "bin" / "kustomize"
        if candidate.is_file():
            found = str(candidate)
    if found:
        return [found, "build"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    raise KustomizeError(
        "kustomize not found: go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 "
        "(or set KUSTOMIZE=/path/to/kustomize)"
    )


class _RenderedLoader(yaml.SafeLoader):
    """PyYAML (YAML 1.1) reads a plain ``=`` as the ``value`` tag; kustomize writes matchers'
    ``matchType: =`` unquoted (YAML 1.2, a string)."""


def _plain(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_RenderedLoader.add_constructor("tag:yaml.org,2002:value", _plain)


def render_overlay(directory: Path) -> list[dict[str, Any]]:
    argv = [*find_kustomize(), str(directory)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise KustomizeError(f"{' '.join(argv)} failed:\n{result.stderr.strip()}")
    return [d for d in yaml.load_all(result.stdout, Loader=_RenderedLoader) if d]


def validate_schemas(docs: list[dict[str, Any]], where: str) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        if str(doc.get("apiVersion", "")).startswith(MONITORING_API):
            continue  # Prometheus Operator resources: checked by valora_deploycheck.monitoring
        ident = f"{where}:{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.path)
                out.append(Finding("error", ident, f"k8s {version} strict: {path}: {exc.message}"))
            except (
                kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.InvalidSchemaError,
            ) as exc:
                out.append(Finding("error", ident, f"k8s {version}: {exc}"))
    return out


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    spec = doc.get("spec") or {}
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        template: dict[str, Any] = job.get("template") or {}
        return template.get("spec")
    return None


def containers(doc: dict[str, Any], *, init: bool = True) -> Iterator[dict[str, Any]]:
    pod = pod_spec(doc) or {}
    yield from pod.get("containers") or []
    if init:
        yield from pod.get("initContainers") or []


def check_manifests(docs: list[dict[str, Any]], where: str, secret_keys: set[str]) -> list[Finding]:
    """Platform rules every overlay must keep (independent of which services exist)."""
    out: list[Finding] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(str(doc.get("kind")), []).append(doc)
    for doc in docs:
        if pod_spec(doc) is not None:
            out += _pod_findings(doc, where, secret_keys)
    out += _workload_findings(by_kind, where)
    out += check_network_policies(docs, where)
    out += _secret_findings(by_kind.get("Secret", []), where)
    from valora_deploycheck.hardening import check_k8s_hardening

    return out + check_k8s_hardening(docs, where.rsplit("/", 1)[-1], where)


def _pod_findings(doc: dict[str, Any], where: str, secret_keys: set[str]) -> list[Finding]:
    """Security context, resources and secret references of one pod template."""
    out: list[Finding] = []
    loc = f"{where}:{ident(doc)}"
    psc = (pod_spec(doc) or {}).get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
        out.append(Finding("error", loc, "pod securityContext must set runAsNonRoot and runAsUser"))
    for ctr in containers(doc):
        cloc = f"{loc}/{ctr.get('name')}"
        csc = ctr.get("securityContext") or {}
        if csc.get("allowPrivilegeEscalation") is not False:
            out.append(Finding("error", cloc, "allowPrivilegeEscalation must be false"))
        if csc.get("readOnlyRootFilesystem") is not True:
            out.append(Finding("error", cloc, "readOnlyRootFilesystem must be true"))
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            out.append(Finding("error", cloc, "capabilities must drop ALL"))
        res = ctr.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    out.append(Finding("error", cloc, f"resources.{part}.{r} missing"))
        for env in ctr.get("env") or []:
            if (env.get("valueFrom") or {}).get("secretKeyRef"):
                ref = env["valueFrom"]["secretKeyRef"]
                if ref.get("key") not in secret_keys:
                    out.append(
                        Finding(
                            "error",
                            cloc,
                            f"secret key {ref.get('key')} not in k8s/secret.template.yaml",
                        )
                    )
            elif SECRETISH_ENV(env.get("name", "")) and "value" in env:
                out.append(Finding("error", cloc, f"{env['name']} must come from a Secret"))
    return out


def _workload_findings(by_kind: dict[str, list[dict[str, Any]]], where: str) -> list[Finding]:
    """Probes, disruption budgets and autoscalers of the Deployments and StatefulSets."""
    out: list[Finding] = []
    hpa_targets = {
        (h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"]): h
        for h in by_kind.get("HorizontalPodAutoscaler", [])
    }
    pdbs = by_kind.get("PodDisruptionBudget", [])
    for doc in (d for k in WORKLOAD_KINDS for d in by_kind.get(k, [])):
        loc = f"{where}:{ident(doc)}"
        for ctr in containers(doc, init=False):
            cloc = f"{loc}/{ctr.get('name')}"
            for probe, path in (
                ("startupProbe", "/health/live"),
                ("livenessProbe", "/health/live"),
                ("readinessProbe", "/health/ready"),
            ):
                got = ((ctr.get(probe) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    out.append(Finding("error", cloc, f"{probe} must GET {path} (got {got})"))
        labels = ((doc["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        hpa = hpa_targets.get((doc["kind"], doc["metadata"]["name"]))
        replicas = hpa["spec"].get("minReplicas", 1) if hpa else doc["spec"].get("replicas", 1)
        if (replicas > 1 or hpa) and not any(
            selects(p["spec"].get("selector") or {}, labels) for p in pdbs
        ):
            out.append(Finding("error", loc, "several replicas but no PodDisruptionBudget"))
    for name in ("gateway", "predictor"):
        if not any((kind, name) in hpa_targets for kind in WORKLOAD_KINDS):
            out.append(Finding("error", where, f"no HorizontalPodAutoscaler for {name}"))
    return out


def _secret_findings(secrets: list[dict[str, Any]], where: str) -> list[Finding]:
    """A committed Secret may only hold clearly-marked local-only values."""
    out: list[Finding] = []
    for secret in secrets:
        values = {**(secret.get("stringData") or {}), **(secret.get("data") or {})}
        for key, value in values.items():
            text = str(value)
            if key in (secret.get("data") or {}):
                with contextlib.suppress(ValueError):
                    text = base64.b64decode(text).decode()
            if text and "local-only" not in text:
                out.append(
                    Finding(
                        "error",
                        f"{where}:{ident(secret)}",
                        f"{key}: real-looking secret value committed",
                    )
                )
    return out


def SECRETISH_ENV(name: str) -> bool:  # noqa: N802 - reads like a constant pattern
    from valora_deploycheck.compose import SECRETISH

    return bool(SECRETISH.search(name)) or name.endswith("DATABASE_URL")
