"""Monitoring artefacts: one rules file and one Alertmanager routing file, the same everywhere.

``compose/prometheus/rules/valora.yml`` (alerting and recording rules) and
``compose/alertmanager/alertmanager.yml`` (route, inhibition, receivers) are the sources. The
Kubernetes copies for the Prometheus Operator are derived from them:
:func:`prometheus_rule` wraps the rule groups in a ``PrometheusRule`` and
:func:`alertmanager_config` translates the routing into an ``AlertmanagerConfig`` (camelCase
keys, matchers as objects, the webhook address from a Secret). :func:`check_monitoring`
reports any difference, and ``python -m valora_deploycheck.monitoring --write`` (``make
monitoring-sync``) rewrites the Kubernetes files. The rules' own checks (``promtool check
rules``/``test rules``, a case for every rule) live in ``tests/deploy/test_monitoring.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from valora_deploycheck.expectations import repo_root
from valora_deploycheck.findings import Finding

__all__ = [
    "MONITORING_API",
    "MonitoringPaths",
    "alertmanager_config",
    "check_monitoring",
    "check_rendered",
    "main",
    "parse_matcher",
    "prometheus_rule",
    "write_k8s",
]

MONITORING_API = "monitoring.coreos.com/"
"""API group of the Prometheus Operator's resources (validated here, not by kubernetes-validate)."""

WEBHOOK_SECRET = {"name": "valora-alerting", "key": "webhook-url"}
"""Where the Kubernetes receivers read the webhook address (a Secret per environment)."""

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')
_HEADER = (
    "# GENERATED from {source} by `make monitoring-sync` (python -m valora_deploycheck.monitoring"
    " --write):\n# edit the source, not this file. tests/deploy fails when they differ.\n"
)


class MonitoringPaths:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or repo_root()
        self.rules = self.root / "compose" / "prometheus" / "rules" / "valora.yml"
        self.rules_tests = self.root / "compose" / "prometheus" / "rules" / "valora.test.yml"
        self.alertmanager = self.root / "compose" / "alertmanager" / "alertmanager.yml"
        self.component = self.root / "k8s" / "components" / "monitoring"
        self.k8s_rule = self.component / "prometheusrule.yaml"
        self.k8s_routing = self.component / "alertmanagerconfig.yaml"


def parse_matcher(text: str) -> dict[str, str]:
    """``severity="critical"`` -> ``{"name": "severity", "value": "critical", "matchType": "="}``
    (``name="value"``, ``=~``, ``!=`` and ``!~`` matchers of Alertmanager's config)."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"not a matcher: {text!r}")
    name, op, value = found.groups()
    return {"name": name, "value": value, "matchType": op}


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    """The ``PrometheusRule`` carrying exactly the rules file's groups."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "valora-rules"},
        "spec": {"groups": rules["groups"]},
    }


_ROUTE_KEYS = {
    "receiver": "receiver",
    "group_by": "groupBy",
    "group_wait": "groupWait",
    "group_interval": "groupInterval",
    "repeat_interval": "repeatInterval",
    "continue": "continue",
}


def _route(route: dict[str, Any]) -> dict[str, Any]:
    unknown = set(route) - set(_ROUTE_KEYS) - {"matchers", "routes"}
    if unknown:
        raise ValueError(f"route keys without a translation: {sorted(unknown)}")
    out = {_ROUTE_KEYS[k]: v for k, v in route.items() if k in _ROUTE_KEYS}
    if route.get("matchers"):
        out["matchers"] = [parse_matcher(m) for m in route["matchers"]]
    if route.get("routes"):
        out["routes"] = [_route(r) for r in route["routes"]]
    return out


def _receiver(receiver: dict[str, Any]) -> dict[str, Any]:
    unknown = set(receiver) - {"name", "webhook_configs"}
    if unknown:
        raise ValueError(f"receiver keys without a translation: {sorted(unknown)}")
    out: dict[str, Any] = {"name": receiver["name"]}
    hooks = receiver.get("webhook_configs") or []
    if hooks:
        out["webhookConfigs"] = [
            {
                "urlSecret": dict(WEBHOOK_SECRET),
                "sendResolved": bool(h.get("send_resolved", True)),
                "maxAlerts": int(h.get("max_alerts", 0)),
            }
            for h in hooks
        ]
    return out


def alertmanager_config(routing: dict[str, Any]) -> dict[str, Any]:
    """The ``AlertmanagerConfig`` with the same route tree, inhibition and receivers."""
    spec: dict[str, Any] = {"route": _route(routing["route"])}
    spec["inhibitRules"] = [
        {
            "sourceMatch": [parse_matcher(m) for m in rule.get("source_matchers", [])],
            "targetMatch": [parse_matcher(m) for m in rule.get("target_matchers", [])],
            "equal": list(rule.get("equal", [])),
        }
        for rule in routing.get("inhibit_rules", [])
    ]
    spec["receivers"] = [_receiver(r) for r in routing.get("receivers", [])]
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "valora-routing"},
        "spec": spec,
    }


def _expected(paths: MonitoringPaths) -> dict[Path, dict[str, Any]]:
    rules = yaml.safe_load(paths.rules.read_text())
    routing = yaml.safe_load(paths.alertmanager.read_text())
    return {paths.k8s_rule: prometheus_rule(rules), paths.k8s_routing: alertmanager_config(routing)}


def check_monitoring(paths: MonitoringPaths | None = None) -> list[Finding]:
    """The Kubernetes PrometheusRule and AlertmanagerConfig equal their sources."""
    p = paths or MonitoringPaths()
    out: list[Finding] = []
    for target, want in _expected(p).items():
        where = str(target.relative_to(p.root))
        if not target.is_file():
            out.append(Finding("error", where, "missing: run `make monitoring-sync`"))
            continue
        if yaml.safe_load(target.read_text()) != want:
            out.append(
                Finding("error", where, "differs from its source: run `make monitoring-sync`")
            )
    return out


def check_rendered(
    docs: list[dict[str, Any]], where: str, paths: MonitoringPaths | None = None
) -> list[Finding]:
    """An overlay that carries the monitoring component carries it whole and unchanged, and
    its PodMonitor selects every service's pods on a port they declare."""
    p = paths or MonitoringPaths()
    mine = [d for d in docs if str(d.get("apiVersion", "")).startswith(MONITORING_API)]
    if not mine:
        return []
    out: list[Finding] = []
    by_kind = {d["kind"]: d for d in mine}
    for want in _expected(p).values():
        got = by_kind.get(want["kind"])
        if got is None or got.get("spec") != want["spec"]:
            out.append(Finding("error", where, f"{want['kind']} differs from its source"))
    monitor = by_kind.get("PodMonitor")
    if monitor is None:
        return [*out, Finding("error", where, "monitoring without a PodMonitor")]
    selector = monitor["spec"]["selector"]["matchLabels"]
    ports = {e.get("port") for e in monitor["spec"]["podMetricsEndpoints"]}
    for doc in (d for d in docs if d.get("kind") == "Deployment"):
        template = doc["spec"]["template"]
        labels = template["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/component") != "service":
            continue
        name = doc["metadata"]["name"]
        if any(labels.get(k) != v for k, v in selector.items()):
            out.append(Finding("error", where, f"PodMonitor does not select {name}'s pods"))
        declared = {
            port.get("name") for c in template["spec"]["containers"] for port in c.get("ports", [])
        }
        if not ports & declared:
            out.append(Finding("error", where, f"{name} declares no port {sorted(ports)}"))
    return out


def write_k8s(paths: MonitoringPaths | None = None) -> list[Path]:
    """Rewrite the Kubernetes files from the sources; returns the files written."""
    p = paths or MonitoringPaths()
    written = []
    for target, doc in _expected(p).items():
        source = p.rules if doc["kind"] == "PrometheusRule" else p.alertmanager
        header = _HEADER.format(source=source.relative_to(p.root))
        body = yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(header + body)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m valora_deploycheck.monitoring")
    parser.add_argument("--write", action="store_true", help="rewrite the Kubernetes files")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_k8s():
            sys.stdout.write(f"wrote {path}\n")
        return 0
    findings = check_monitoring()
    sys.stdout.write("".join(f"{f}\n" for f in findings) or "monitoring: in sync\n")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
