"""Consistency of the images, Prometheus, the dashboard and topic mentions with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from valora_deploycheck.expectations import (
    TOPIC_NAME,
    ServiceExpectation,
    is_known_topic,
    locked_version,
    static_topics,
)
from valora_deploycheck.findings import Finding

__all__ = [
    "check_dashboard_metrics",
    "check_dockerfile",
    "check_prometheus",
    "check_topic_mentions",
    "code_metric_names",
]


# ------------------------------------------------------------------------------ images, metrics
def check_dockerfile(dockerfile: Path, root: Path) -> list[Finding]:
    text = dockerfile.read_text()
    out: list[Finding] = []
    args = dict(re.findall(r"^ARG\s+([A-Z_]+)=(\S+)", text, re.M))
    for arg, package in (("MLFLOW_VERSION", "mlflow"), ("PSYCOPG_VERSION", "psycopg")):
        locked = locked_version(package, root)
        if args.get(arg) != locked:
            out.append(
                Finding(
                    "error",
                    dockerfile.name,
                    f"{arg}={args.get(arg)} but uv.lock pins {package} {locked}",
                )
            )
    for needle, why in (
        ("uv sync --frozen --no-dev", "install from the lock without dev dependencies"),
        ('--package "${PACKAGE}"', "install only the one service's package"),
        ("USER 10001", "run as a non-root user"),
        ("HEALTHCHECK", "declare a healthcheck"),
    ):
        if needle not in text:
            out.append(Finding("error", dockerfile.name, f"must {why} ({needle!r})"))
    for target in ("service", "ops", "mlflow"):
        if not re.search(rf"^FROM\s+\S+\s+AS\s+{target}\s*$", text, re.M):
            out.append(Finding("error", dockerfile.name, f"target {target} missing"))
    return out


def check_prometheus(config: Path, services: list[ServiceExpectation]) -> list[Finding]:
    data = yaml.safe_load(config.read_text())
    targets = {
        t
        for job in data.get("scrape_configs") or []
        for sc in job.get("static_configs") or []
        for t in sc.get("targets") or []
    }
    out = []
    for exp in services:
        if exp.port is not None and f"{exp.name}:{exp.port}" not in targets:
            out.append(Finding("error", config.name, f"no scrape target {exp.name}:{exp.port}"))
    return out


def code_metric_names(root: Path) -> set[str]:
    names: set[str] = set()
    for sub in ("services", "libs"):
        for path in (root / sub).rglob("*.py"):
            names.update(
                re.findall(r"[\"'](valora_[a-z0-9_]+)[\"']", path.read_text(errors="replace"))
            )
    return names


def check_dashboard_metrics(
    dashboard: Path, root: Path, services: list[ServiceExpectation]
) -> list[Finding]:
    data = json.loads(dashboard.read_text())
    exprs = [t.get("expr", "") for p in data.get("panels", []) for t in p.get("targets", [])]
    exprs += [
        str((v.get("query") or {}).get("query", ""))
        for v in (data.get("templating") or {}).get("list", [])
    ]
    used = {m for e in exprs for m in re.findall(r"\bvalora_[a-z0-9_]+\b", e)}
    known = code_metric_names(root)
    present = {e.name for e in services if e.importable}
    out = []
    for metric in sorted(used):
        base = re.sub(r"_(bucket|count|sum)$", "", metric)
        if metric in known or base in known:
            continue
        if metric.startswith("valora_drift_") and "drift-monitor" not in present:
            out.append(
                Finding("pending", dashboard.name, f"{metric}: drift monitor not landed yet")
            )
            continue
        out.append(Finding("error", dashboard.name, f"{metric} is not exported by any service"))
    return out


def check_topic_mentions(paths: list[Path]) -> list[Finding]:
    """Any topic name spelled in deployment files must exist in the registry."""
    static_topics()
    out = []
    for path in paths:
        text = path.read_text(errors="replace")
        for name in sorted(set(TOPIC_NAME.findall(text))):
            if name.startswith(("valora.", "app.", "io.")) or not re.search(r"\.v[0-9]+$", name):
                continue
            if not is_known_topic(name):
                out.append(
                    Finding(
                        "error",
                        str(path.name),
                        f"topic {name} is not in valora_contracts.ALL_TOPICS",
                    )
                )
    return out
