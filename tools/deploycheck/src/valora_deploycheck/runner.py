"""Run every offline deployment check and collect the findings."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from valora_deploycheck import (
    artifacts,
    compose,
    consistency,
    k8s,
    k8s_consistency,
    kubeflow,
    monitoring,
)
from valora_deploycheck.expectations import discover_services, repo_root
from valora_deploycheck.findings import Finding

__all__ = ["Paths", "run_all", "secret_template_keys"]


class Paths:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or repo_root()
        self.compose = self.root / "compose" / "docker-compose.yml"
        self.env_example = self.root / ".env.example"
        self.dockerfile = self.root / "compose" / "Dockerfile"
        self.prometheus = self.root / "compose" / "prometheus" / "prometheus.yml"
        self.dashboards = sorted((self.root / "compose" / "grafana" / "dashboards").glob("*.json"))
        self.k8s = self.root / "k8s"
        self.secret_template = self.k8s / "secret.template.yaml"
        self.pipeline = self.root / "kubeflow" / "pipeline.py"
        self.pipeline_yaml = self.root / "kubeflow" / "pipeline.yaml"


def secret_template_keys(path: Path) -> set[str]:
    doc = yaml.safe_load(path.read_text())
    return set((doc.get("stringData") or {}) | (doc.get("data") or {}))


def run_all(paths: Paths | None = None) -> list[Finding]:
    p = paths or Paths()
    services = discover_services(p.root)
    out: list[Finding] = [g for s in services for g in s.gaps]
    out += compose.check_compose(p.compose, p.env_example)
    project = compose.load_compose(p.compose, p.env_example)
    out += consistency.check_compose_consistency(project, services)
    out += artifacts.check_dockerfile(p.dockerfile, p.root)
    out += artifacts.check_prometheus(p.prometheus, services)
    out += monitoring.check_monitoring()
    for dash in p.dashboards:
        out += artifacts.check_dashboard_metrics(dash, p.root, services)
    keys = secret_template_keys(p.secret_template)
    for overlay in k8s.OVERLAYS:
        where = f"k8s/overlays/{overlay}"
        try:
            docs = k8s.render_overlay(p.k8s / "overlays" / overlay)
        except k8s.KustomizeError as exc:
            out.append(Finding("error", where, str(exc)))
            continue
        out += k8s.validate_schemas(docs, where)
        out += k8s.check_manifests(docs, where, keys)
        out += k8s_consistency.check_k8s_consistency(docs, where, services)
        out += monitoring.check_rendered(docs, where)
    with tempfile.TemporaryDirectory() as tmp:
        compiled = kubeflow.compile_pipeline(p.pipeline, Path(tmp) / "pipeline.yaml")
        out += kubeflow.check_pipeline(compiled, p.pipeline_yaml)
    files = [p.compose, p.prometheus, *p.dashboards, p.pipeline, *sorted(p.k8s.rglob("*.yaml"))]
    files += sorted((p.root / "compose" / "kafka").glob("*.sh"))  # the topic ACLs
    out += artifacts.check_topic_mentions(files)
    return out
