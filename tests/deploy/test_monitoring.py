"""The alerting rules and the Alertmanager routing: promtool/amtool accept them, every rule has
a unit-test case, every runbook link resolves, and compose, the dev stack and Kubernetes carry the
same rules and routing.

Needs ``promtool`` and ``amtool`` (Debian packages prometheus and prometheus-alertmanager:
``make monitoring`` installs them; ``make test`` depends on it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from valora_deploycheck.artifacts import code_metric_names
from valora_deploycheck.expectations import ServiceExpectation
from valora_deploycheck.monitoring import (
    MonitoringPaths,
    alertmanager_config,
    check_monitoring,
    check_rendered,
    parse_matcher,
    prometheus_rule,
)
from valora_deploycheck.runner import Paths

pytestmark = pytest.mark.deploy

MP = MonitoringPaths()


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not found: `make monitoring` installs prometheus/alertmanager"
    return found


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def _rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(MP.rules.read_text())
    return [r for g in data["groups"] for r in g["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [r for r in _rules() if "alert" in r]


def uncovered_rules(rules: list[dict[str, Any]], tests: dict[str, Any]) -> list[str]:
    """Rules without a case: an alert (by name and severity) that no test expects to fire, or a
    recording rule that no ``promql_expr_test`` evaluates."""
    fired: set[tuple[str, str]] = set()
    exprs: list[str] = []
    for case in tests.get("tests", []):
        for t in case.get("alert_rule_test", []):
            for exp in t.get("exp_alerts") or []:
                fired.add((t["alertname"], exp.get("exp_labels", {}).get("severity", "")))
        exprs += [t["expr"] for t in case.get("promql_expr_test", [])]
    missing = []
    for rule in rules:
        if "alert" in rule:
            key = (rule["alert"], rule.get("labels", {}).get("severity", ""))
            if key not in fired:
                missing.append(f"alert {key[0]} ({key[1]}) never expected to fire")
            continue
        name = re.compile(rf"(?<![\w:]){re.escape(rule['record'])}(?![\w:])")
        if not any(name.search(e) for e in exprs):
            missing.append(f"recording rule {rule['record']} never evaluated")
    return missing


def test_promtool_accepts_the_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(MP.rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _run(_tool("promtool"), "test", "rules", MP.rules_tests.name, cwd=MP.rules.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_test_case() -> None:
    tests = yaml.safe_load(MP.rules_tests.read_text())
    assert uncovered_rules(_rules(), tests) == []


def test_a_rule_without_a_case_is_reported() -> None:
    tests = yaml.safe_load(MP.rules_tests.read_text())
    extra = [
        {"alert": "SomethingNew", "expr": "vector(1)", "labels": {"severity": "warning"}},
        {"record": "valora:something:rate5m", "expr": "vector(1)"},
    ]
    assert uncovered_rules([*_rules(), *extra], tests) == [
        "alert SomethingNew (warning) never expected to fire",
        "recording rule valora:something:rate5m never evaluated",
    ]
    # a case that expects nothing does not count as covering the rule
    tests["tests"].append(
        {"alert_rule_test": [{"alertname": "SomethingNew", "eval_time": "1m", "exp_alerts": []}]}
    )
    assert "alert SomethingNew (warning) never expected to fire" in uncovered_rules(extra, tests)


def test_every_alert_says_how_bad_what_and_where_to_look() -> None:
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        notes = rule["annotations"]
        assert notes.get("summary"), rule["alert"]
        assert notes.get("description"), rule["alert"]
        assert notes["runbook_url"].startswith("docs/runbooks.md#"), rule["alert"]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_every_runbook_link_resolves(paths: Paths) -> None:
    anchors = _anchors((paths.root / "docs" / "runbooks.md").read_text())
    links = {r["annotations"]["runbook_url"].split("#", 1)[1] for r in _alerts()}
    assert links - anchors == set()


def test_rules_read_only_metrics_the_code_exports(paths: Paths) -> None:
    known = code_metric_names(paths.root)
    for rule in _rules():
        for metric in re.findall(r"\bvalora_[a-z0-9_]+\b", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum|total)$", "", metric)
            assert metric in known or base in known or f"{base}_total" in known, metric


def test_service_down_watches_every_service(services: list[ServiceExpectation]) -> None:
    expr = next(r["expr"] for r in _alerts() if r["alert"] == "ServiceDown")
    jobs = set(re.search(r'job=~"([^"]+)"', expr).group(1).split("|"))  # type: ignore[union-attr]
    assert {s.name for s in services} <= jobs


# ---- Alertmanager -----------------------------------------------------------------------------


def _routing() -> dict[str, Any]:
    return dict(yaml.safe_load(MP.alertmanager.read_text()))


def test_amtool_accepts_the_routing() -> None:
    result = _run(_tool("amtool"), "check-config", str(MP.alertmanager))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_every_alert_reaches_on_call(severity: str) -> None:
    result = _run(
        _tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={MP.alertmanager}",
        "alertname=DriftDetected",
        "model=valora-price",
        f"severity={severity}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "on-call"


def test_routing_groups_by_model_and_alert_and_criticals_inhibit_warnings_of_their_model() -> None:
    routing = _routing()
    assert routing["route"]["group_by"] == ["model", "alertname"]
    (rule,) = routing["inhibit_rules"]
    assert [parse_matcher(m) for m in rule["source_matchers"]] == [
        {"name": "severity", "value": "critical", "matchType": "="},
        {"name": "model", "value": ".+", "matchType": "=~"},  # alerts without a model never do
    ]
    assert [parse_matcher(m) for m in rule["target_matchers"]] == [
        {"name": "severity", "value": "warning", "matchType": "="}
    ]
    assert rule["equal"] == ["model"]
    hooks = [h for r in routing["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks
    assert all(h["send_resolved"] for h in hooks)


def test_model_alerts_carry_the_model_label() -> None:
    for rule in _alerts():
        if "model_name" in rule["expr"]:
            assert rule["labels"].get("model") == "{{ $labels.model_name }}", rule["alert"]


# ---- the same rules and routing in compose and Kubernetes --------------------------------------


def test_kubernetes_carries_the_same_rules_and_routing() -> None:
    assert check_monitoring() == []


def test_a_changed_rule_or_route_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for src in (MP.rules, MP.alertmanager, MP.k8s_rule, MP.k8s_routing):
        dst = root / src.relative_to(MP.root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    copy = MonitoringPaths(root)
    assert check_monitoring(copy) == []
    copy.rules.write_text(MP.rules.read_text().replace("for: 2m", "for: 3m"))
    routing = _routing()
    routing["route"]["group_by"] = ["alertname"]
    copy.alertmanager.write_text(yaml.safe_dump(routing))
    assert sorted(f.where for f in check_monitoring(copy)) == [
        "k8s/components/monitoring/alertmanagerconfig.yaml",
        "k8s/components/monitoring/prometheusrule.yaml",
    ]


def test_compose_mounts_the_rules_and_the_routing(paths: Paths) -> None:
    compose = yaml.safe_load(paths.compose.read_text())["services"]
    prom_mounts = " ".join(compose["prometheus"]["volumes"])
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in prom_mounts
    assert "./alertmanager/alertmanager.yml:" in " ".join(compose["alertmanager"]["volumes"])
    config = yaml.safe_load(paths.prometheus.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/valora.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_operator_overlays_carry_rules_routing_and_pod_monitor(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    kinds = {d["kind"] for d in docs}
    assert {"PodMonitor", "PrometheusRule", "AlertmanagerConfig"} <= kinds
    assert check_rendered(docs, overlay) == []
    rules = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rules["spec"] == prometheus_rule(yaml.safe_load(MP.rules.read_text()))["spec"]
    routing = next(d for d in docs if d["kind"] == "AlertmanagerConfig")
    assert routing["spec"] == alertmanager_config(_routing())["spec"]


def test_a_pod_monitor_that_misses_a_service_is_caught(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    import copy

    docs = copy.deepcopy(rendered["prod"])
    monitor = next(d for d in docs if d["kind"] == "PodMonitor")
    monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "gateway"
    found = check_rendered(docs, "prod")
    assert {f.message for f in found} >= {"PodMonitor does not select predictor's pods"}


# ---- the dashboard on-call opens first ---------------------------------------------------------


def test_the_dashboard_opens_on_lag_dead_letters_and_retries(paths: Paths) -> None:
    import json

    board = json.loads((paths.root / "compose/grafana/dashboards/valora-overview.json").read_text())
    panels = sorted(
        (p for p in board["panels"] if p["type"] != "row"),
        key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]),
    )
    first = [" ".join(t["expr"] for t in p["targets"]) for p in panels[:3]]
    assert "valora_consumer_lag" in first[0]
    assert "by (group, topic, partition)" in first[0]
    assert "valora_consumer_dead_letters_total" in first[1]
    assert "error_type" in first[1]
    assert "valora_consumer_retries_total" in first[2]
    assert "error_class" in first[2]
    titles = {p["title"] for p in panels}
    assert {"Messages handled / s by service", "Drift alerts firing"} <= titles  # kept
