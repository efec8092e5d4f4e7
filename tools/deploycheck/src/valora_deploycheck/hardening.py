"""Secure-by-default rules of the deployment artefacts (compose and every kustomize overlay):

* **no floating image tags**: every pulled image names an exact version (``1.2.3``, optionally
  with a suffix such as ``-bookworm``) or a digest; ``latest``, no tag, or a partial version
  (``17-bookworm``) is refused. Images this repository builds itself (a compose service with
  ``build:``, the dev overlay's ``valora/*`` images loaded into a local cluster) are exempt;
* **no optional secrets**: a Secret reference is never ``optional: true``, and a secret-looking
  compose variable is required (``${X:?...}``), never defaulted;
* **no public /metrics (or /docs)**: compose publishes ports on the loopback interface only;
  an Ingress never routes ``/`` (or a prefix of ``/metrics``, ``/docs``) to the gateway, and
  the gateway's API keys (``admin`` keys ``/metrics`` and ``/docs``) come from the Secret;
* **fail closed**: the staging and production overlays run ``VALORA_ENVIRONMENT`` staging and
  production, whose services refuse to start with insecure settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from valora_deploycheck.compose import SECRETISH, ComposeProject
from valora_deploycheck.findings import Finding

__all__ = [
    "GATEWAY_KEY_ENVS",
    "check_compose_hardening",
    "check_k8s_hardening",
    "floating_tag",
]

_EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z][0-9A-Za-z.+-]*)?$")
_TWO_PART_TAG = re.compile(r"^\d+\.\d+(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
_TWO_PART_VERSIONED = frozenset({"postgres"})
"""Images whose releases are major.minor (PostgreSQL 17.6 is a patch release: exact)."""
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
GATEWAY_KEY_ENVS = tuple(
    f"VALORA_GATEWAY_API_KEYS_{scope}" for scope in ("PREDICT", "PUBLISH", "READ", "ADMIN")
)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?")
_PRIVATE_PATHS = ("/metrics", "/docs", "/openapi.json")
_ENVIRONMENT = {"staging": "staging", "prod": "production"}


def floating_tag(image: str) -> str | None:
    """Why ``image`` is not pinned to an exact version, or ``None`` when it is."""
    if _DIGEST.search(image):
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (a registry port is not a tag)
        return "no tag (pulls latest)"
    if tag == "latest":
        return "tag latest"
    two_part = name.rsplit("/", 1)[-1] in _TWO_PART_VERSIONED and _TWO_PART_TAG.match(tag)
    if not _EXACT_TAG.match(tag) and not two_part:
        return f"tag {tag!r} is not an exact version"
    return None


# ------------------------------------------------------------------------------------- compose
def check_compose_hardening(project: ComposeProject) -> list[Finding]:
    where = project.path.name
    out: list[Finding] = []
    for name, svc in project.services.items():
        loc = f"{where}:services.{name}"
        image = str(svc.get("image", ""))
        if image and "build" not in svc and (why := floating_tag(image)):
            out.append(Finding("error", loc, f"image {image}: {why}"))
        for port in svc.get("ports") or []:
            text = str(port.get("host_ip", "")) if isinstance(port, dict) else str(port)
            if not text.startswith("127.0.0.1"):
                out.append(Finding("error", loc, f"port {port} is published beyond loopback"))
        raw_env = (project.raw["services"][name].get("environment") or {}) or {}
        for key, value in raw_env.items():
            for variable, op in _VARIABLE.findall(str(value)):
                if SECRETISH.search(variable) and op not in ("?", ":?"):
                    out.append(
                        Finding(
                            "error", loc, f"{key}: ${{{variable}}} is an optional secret (use :?)"
                        )
                    )
    return out


# ---------------------------------------------------------------------------------- kubernetes
def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    from valora_deploycheck.k8s import containers

    yield from containers(doc)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    from valora_deploycheck.k8s import pod_spec as spec

    return spec(doc)


def _images(docs: Iterable[dict[str, Any]], overlay: str, where: str) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        for ctr in _containers(doc):
            image = str(ctr.get("image", ""))
            local = overlay == "dev" and image.startswith("valora/")
            if image and not local and (why := floating_tag(image)):
                loc = f"{where}:{doc['kind']}/{doc['metadata']['name']}/{ctr.get('name')}"
                out.append(Finding("error", loc, f"image {image}: {why}"))
    return out


def _optional_secrets(docs: Iterable[dict[str, Any]], where: str) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        for ctr in _containers(doc):
            loc = f"{where}:{doc['kind']}/{doc['metadata']['name']}/{ctr.get('name')}"
            for env in ctr.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("optional"):
                    out.append(Finding("error", loc, f"{env['name']}: optional secret"))
            for src in ctr.get("envFrom") or []:
                if (src.get("secretRef") or {}).get("optional"):
                    out.append(Finding("error", loc, "envFrom: optional secret"))
        pod = pod_spec(doc) or {}
        for volume in pod.get("volumes") or []:
            if (volume.get("secret") or {}).get("optional"):
                loc = f"{where}:{doc['kind']}/{doc['metadata']['name']}"
                out.append(Finding("error", loc, f"volume {volume.get('name')}: optional secret"))
    return out


def _ingress(docs: Iterable[dict[str, Any]], where: str) -> list[Finding]:
    out: list[Finding] = []
    for doc in (d for d in docs if d.get("kind") == "Ingress"):
        for rule in doc["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                prefix = str(path.get("path", "/"))
                exact = path.get("pathType") == "Exact"
                exposed = [
                    p
                    for p in _PRIVATE_PATHS
                    if prefix == p or (not exact and p.startswith(prefix.rstrip("/") + "/"))
                ]
                if prefix in ("", "/") or exposed:
                    out.append(
                        Finding(
                            "error",
                            f"{where}:Ingress/{doc['metadata']['name']}",
                            f"path {prefix!r} exposes {exposed or list(_PRIVATE_PATHS)} publicly",
                        )
                    )
    return out


def _gateway_keys(docs: Iterable[dict[str, Any]], where: str) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        if doc["metadata"]["name"] != "gateway":
            continue
        for ctr in (c for c in _containers(doc) if c.get("name") == "gateway"):
            secret = {
                e["name"]
                for e in ctr.get("env") or []
                if (e.get("valueFrom") or {}).get("secretKeyRef")
            }
            for key in GATEWAY_KEY_ENVS:
                if key not in secret:
                    out.append(
                        Finding("error", f"{where}:gateway", f"{key} must come from the Secret")
                    )
    return out


def _environment(docs: Iterable[dict[str, Any]], overlay: str, where: str) -> list[Finding]:
    want = _ENVIRONMENT.get(overlay)
    if want is None:
        return []
    found = [
        str((d.get("data") or {}).get("VALORA_ENVIRONMENT"))
        for d in docs
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "valora-config"
    ]
    if found != [want]:
        return [Finding("error", where, f"VALORA_ENVIRONMENT must be {want} (found {found})")]
    return []


def _reply_topics(docs: list[dict[str, Any]], where: str) -> list[Finding]:
    """The topic Job creates a reply topic for every gateway ordinal the HPA may start."""
    hpa = next(
        (
            d
            for d in docs
            if d.get("kind") == "HorizontalPodAutoscaler"
            and d["spec"]["scaleTargetRef"]["name"] == "gateway"
        ),
        None,
    )
    job = next(
        (d for d in docs if d.get("kind") == "Job" and d["metadata"]["name"] == "kafka-topics"),
        None,
    )
    if hpa is None or job is None:
        return []
    argv = [
        str(a) for c in _containers(job) for a in (c.get("command") or []) + (c.get("args") or [])
    ]
    flag = "--gateway-replicas"
    created = int(argv[argv.index(flag) + 1]) if flag in argv[:-1] else 0
    most = int(hpa["spec"]["maxReplicas"])
    if created < most:
        return [
            Finding(
                "error",
                f"{where}:Job/kafka-topics",
                f"creates reply topics for {created} gateway replicas, the HPA allows {most}",
            )
        ]
    return []


def check_k8s_hardening(docs: list[dict[str, Any]], overlay: str, where: str) -> list[Finding]:
    return [
        *_images(docs, overlay, where),
        *_optional_secrets(docs, where),
        *_ingress(docs, where),
        *_gateway_keys(docs, where),
        *_environment(docs, overlay, where),
        *_reply_topics(docs, where),
    ]
