"""The dev stack's Prometheus and Alertmanager configuration, rendered from the repository's.

Nothing here is a second copy: the alerting rules are the repository's one rules file
(``compose/prometheus/rules/valora.yml``, loaded in place) and the routing is its one routing
file (``compose/alertmanager/alertmanager.yml``) with only the receiver's address and, when set,
the timers replaced. Scrape targets are the dev stack's own service replicas
(:func:`scrape_targets`: every replica with a pid file, i.e. started and not stopped), one
scrape job per service, named after it as in compose and Kubernetes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from valora_devstack.process import DevstackError, read_pid
from valora_devstack.services import SERVICES, ValoraService, service_components
from valora_devstack.settings import DevstackSettings

__all__ = [
    "ALERTMANAGER_SOURCE",
    "RULES_SOURCE",
    "alertmanager_config",
    "load_yaml",
    "monitoring_sources",
    "prometheus_config",
    "scrape_targets",
    "write_targets",
]

RULES_SOURCE = Path("prometheus") / "rules" / "valora.yml"
ALERTMANAGER_SOURCE = Path("alertmanager") / "alertmanager.yml"


def monitoring_sources(settings: DevstackSettings) -> Path:
    """The directory with the rules and routing files (the repository's ``compose/``)."""
    if settings.monitoring_sources is not None:
        candidates = [settings.monitoring_sources.expanduser().resolve()]
    else:
        here = Path(__file__).resolve()
        candidates = [p / "compose" for p in (Path.cwd(), *Path.cwd().parents, *here.parents)]
    for directory in candidates:
        if (directory / RULES_SOURCE).is_file() and (directory / ALERTMANAGER_SOURCE).is_file():
            return directory
    raise DevstackError(
        f"no {RULES_SOURCE} and {ALERTMANAGER_SOURCE} under {candidates[0]}: run from the "
        "repository or set VALORA_MONITORING_SOURCES"
    )


def _seconds(value: float) -> str:
    return f"{round(value * 1000)}ms"


def scrape_targets(settings: DevstackSettings) -> dict[str, list[str]]:
    """``{service: ["127.0.0.1:port", ...]}`` for every replica that has a pid file."""
    targets: dict[str, list[str]] = {spec.name: [] for spec in SERVICES}
    for component in service_components(settings):
        if isinstance(component, ValoraService) and read_pid(component.pid_file) is not None:
            targets[component.service] += [str(p) for p in component.ports]
    return targets


def write_targets(directory: Path, targets: Mapping[str, Iterable[str]]) -> None:
    """One file_sd file per service (Prometheus re-reads them without a restart)."""
    directory.mkdir(parents=True, exist_ok=True)
    for service, hosts in targets.items():
        path = directory / f"{service}.json"
        body = json.dumps([{"targets": sorted(hosts), "labels": {}}] if hosts else [])
        if not path.is_file() or path.read_text() != body:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(body)
            tmp.replace(path)


def prometheus_config(
    settings: DevstackSettings, *, rules: Path, targets_dir: Path
) -> dict[str, Any]:
    """Scrape every service (one job each), evaluate ``rules``, alert the local Alertmanager."""
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "prometheus",
            "static_configs": [{"targets": [str(settings.prometheus_address)]}],
        }
    ]
    jobs += [
        {
            "job_name": spec.name,
            "metrics_path": "/metrics",
            "file_sd_configs": [
                {"files": [str(targets_dir / f"{spec.name}.json")], "refresh_interval": "5s"}
            ],
        }
        for spec in SERVICES
    ]
    scrape = settings.prometheus_scrape_interval_s
    return {
        "global": {
            "scrape_interval": _seconds(scrape),
            "scrape_timeout": _seconds(min(scrape, 5.0)),
            "evaluation_interval": _seconds(settings.prometheus_evaluation_interval_s),
        },
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [str(settings.alertmanager_address)]}]}
            ]
        },
        "scrape_configs": jobs,
    }


def _timers(route: dict[str, Any], timers: Mapping[str, str], *, root: bool = True) -> None:
    """Set the timers on the root route, and on every child route that overrides them."""
    for key, value in timers.items():
        if root or key in route:
            route[key] = value
    for child in route.get("routes", []):
        _timers(child, timers, root=False)


def alertmanager_config(settings: DevstackSettings, source: Mapping[str, Any]) -> dict[str, Any]:
    """The routing file with this stack's webhook address (or none) and timers."""
    config = json.loads(json.dumps(source))  # a deep copy of plain data
    for receiver in config.get("receivers", []):
        hooks = receiver.pop("webhook_configs", [])
        if settings.alert_webhook_url:
            receiver["webhook_configs"] = [
                {**hook, "url": settings.alert_webhook_url} for hook in hooks
            ]
    timers = {
        key: _seconds(value)
        for key, value in (
            ("group_wait", settings.alertmanager_group_wait_s),
            ("group_interval", settings.alertmanager_group_interval_s),
            ("repeat_interval", settings.alertmanager_repeat_interval_s),
        )
        if value is not None
    }
    _timers(config["route"], timers)
    return dict(config)


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise DevstackError(f"{path} is not a YAML mapping")
    return data
