"""The dev stack's Prometheus and Alertmanager: ports from the settings, the repository's one
rules and routing files, scrape targets from the stack's own replicas (valora_devstack.monitoring,
.monitoring_config). The processes themselves run in tests/integration/test_alerting.py and the
e2e alerting test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from valora_devstack import DevstackSettings
from valora_devstack.monitoring import MONITORING, Alertmanager, Prometheus
from valora_devstack.monitoring_config import (
    alertmanager_config,
    monitoring_sources,
    prometheus_config,
    scrape_targets,
    write_targets,
)
from valora_devstack.process import write_pid
from valora_devstack.services import SERVICES, service_process, spec_of
from valora_devstack.stack import components

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> DevstackSettings:
    return DevstackSettings(state_dir=tmp_path / "state", service_port_offset=1000)


def test_ports_follow_the_service_offset_unless_set(settings: DevstackSettings) -> None:
    assert settings.prometheus_address.port == 19090 + 1000
    assert settings.alertmanager_address.port == 19094 + 1000
    pinned = DevstackSettings(prometheus_port=9999, alertmanager_port=9998)
    assert (pinned.prometheus_address.port, pinned.alertmanager_address.port) == (9999, 9998)


def test_the_stack_lists_prometheus_and_alertmanager(settings: DevstackSettings) -> None:
    by_name = {c.name: c for c in components(settings)}
    assert set(MONITORING) <= set(by_name)
    prometheus = by_name["prometheus"]
    assert isinstance(prometheus, Prometheus)
    assert prometheus.address == f"http://127.0.0.1:{19090 + 1000}"
    # Prometheus starts after every service (so its first targets are the started replicas)
    assert {s.name for s in SERVICES} | {"alertmanager"} <= set(prometheus.depends_on)
    assert isinstance(by_name["alertmanager"], Alertmanager)


def test_the_rules_and_routing_are_the_repositorys_files(settings: DevstackSettings) -> None:
    assert monitoring_sources(settings) == REPO / "compose"
    rules = REPO / "compose" / "prometheus" / "rules" / "valora.yml"
    config = prometheus_config(settings, rules=rules, targets_dir=Path("/t"))
    assert config["rule_files"] == [str(rules)]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{19094 + 1000}"
    ]


def test_one_scrape_job_per_service_named_after_it(settings: DevstackSettings) -> None:
    fast = settings.model_copy(
        update={"prometheus_scrape_interval_s": 1.0, "prometheus_evaluation_interval_s": 0.5}
    )
    config = prometheus_config(fast, rules=Path("/r.yml"), targets_dir=Path("/t"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", *(s.name for s in SERVICES)}
    assert jobs["drift-monitor"]["file_sd_configs"][0]["files"] == ["/t/drift-monitor.json"]
    assert config["global"]["scrape_interval"] == "1000ms"
    assert config["global"]["evaluation_interval"] == "500ms"


def test_targets_are_the_replicas_that_were_started(settings: DevstackSettings) -> None:
    assert all(t == [] for t in scrape_targets(settings).values())  # nothing started
    validator = spec_of("validator")
    for replica in (0, 2):
        write_pid(service_process(settings, validator, replica=replica).pid_file, os.getpid())
    write_pid(service_process(settings, spec_of("gateway")).pid_file, os.getpid())
    targets = scrape_targets(settings)
    assert targets["validator"] == [
        f"127.0.0.1:{8102 + 1000}",
        f"127.0.0.1:{8102 + 1000 + 200}",
    ]
    assert targets["gateway"] == [f"127.0.0.1:{8000 + 1000}"]
    assert targets["ingestion"] == []
    write_targets(settings.state_path / "t", targets)
    written = json.loads((settings.state_path / "t" / "validator.json").read_text())
    assert written == [{"targets": targets["validator"], "labels": {}}]
    assert json.loads((settings.state_path / "t" / "ingestion.json").read_text()) == []


def _source() -> dict[str, object]:
    return dict(yaml.safe_load((REPO / "compose/alertmanager/alertmanager.yml").read_text()))


def test_routing_keeps_grouping_and_inhibition_and_takes_the_stacks_webhook(
    settings: DevstackSettings,
) -> None:
    source = _source()
    hooked = settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:7/hook"})
    config = alertmanager_config(hooked, source)
    assert config["route"] == source["route"]
    assert config["inhibit_rules"] == source["inhibit_rules"]
    hooks = [h for r in config["receivers"] for h in r["webhook_configs"]]
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:7/hook"]
    assert all(h["send_resolved"] for h in hooks)
    # without a webhook address, receivers stay (alerts are visible) but send nothing
    quiet = alertmanager_config(settings, source)
    assert all("webhook_configs" not in r for r in quiet["receivers"])
    assert source["receivers"][0]["webhook_configs"]  # the source is left alone


def test_timers_can_be_shortened_everywhere_in_the_tree(settings: DevstackSettings) -> None:
    fast = settings.model_copy(
        update={
            "alertmanager_group_wait_s": 1.0,
            "alertmanager_group_interval_s": 2.0,
            "alertmanager_repeat_interval_s": 60.0,
        }
    )
    route = alertmanager_config(fast, _source())["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "1000ms",
        "2000ms",
        "60000ms",
    )
    assert [r["repeat_interval"] for r in route["routes"]] == ["60000ms"]
    assert route["group_by"] == ["model", "alertname"]
