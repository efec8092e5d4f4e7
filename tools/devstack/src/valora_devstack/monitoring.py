"""Prometheus and Alertmanager as dev-stack processes (Debian's ``prometheus`` and
``prometheus-alertmanager`` packages; ``make monitoring`` installs them).

Ports come from the settings (``19090``/``19094`` + ``service_port_offset``, or
``VALORA_PROMETHEUS_PORT``/``VALORA_ALERTMANAGER_PORT``), state lives under
``<state_dir>/prometheus`` and ``<state_dir>/alertmanager`` (bounded: 2 days or 512 MB of
samples), output goes to the usual size-rotated ``<logs>/<name>.log``. Prometheus starts after
the services and loads the repository's rules file in place; its scrape targets (one job per
service, every replica with a pid file) are rewritten on every ``valora stack up``/``down``
(:func:`refresh_targets`) and re-read by Prometheus without a restart. Alertmanager runs the
repository's routing file with this stack's webhook address (:mod:`.monitoring_config`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import yaml

from valora_devstack.http_process import ServiceProcess
from valora_devstack.monitoring_config import (
    ALERTMANAGER_SOURCE,
    RULES_SOURCE,
    alertmanager_config,
    load_yaml,
    monitoring_sources,
    prometheus_config,
    scrape_targets,
    write_targets,
)
from valora_devstack.process import DevstackError
from valora_devstack.services import SERVICES
from valora_devstack.settings import DevstackSettings

__all__ = ["MONITORING", "Alertmanager", "Prometheus", "find_binary", "refresh_targets"]

logger = logging.getLogger(__name__)

MONITORING = ("alertmanager", "prometheus")
"""Names of the monitoring components (not services: never paused for tests)."""


def find_binary(name: str, *alternatives: str) -> str:
    """The path of ``name`` (or of an alternative name) on PATH, else a clear error."""
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    raise DevstackError(
        f"{name} not found: `make monitoring` installs the Debian packages prometheus and "
        "prometheus-alertmanager (or set VALORA_PROMETHEUS_BIN / VALORA_ALERTMANAGER_BIN)"
    )


def _write_yaml(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class Prometheus(ServiceProcess):
    def __init__(self, settings: DevstackSettings) -> None:
        addr = settings.prometheus_address
        self.home = settings.state_path / "prometheus"
        self.config = self.home / "prometheus.yml"
        self.targets_dir = self.home / "targets"
        super().__init__(
            settings,
            name="prometheus",
            argv=[],
            port=addr.port,
            host=addr.host,
            health_url=f"http://{addr}/-/ready",
            depends_on=("alertmanager", *(s.name for s in SERVICES)),
            marker=f"--config.file={self.config}",
            start_timeout=settings.monitoring_start_timeout_s,
        )

    def argv(self) -> list[str]:
        s = self.settings
        return [
            find_binary(s.prometheus_bin),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--storage.tsdb.retention.time={s.prometheus_retention}",
            f"--storage.tsdb.retention.size={s.prometheus_retention_size}",
            f"--web.listen-address={s.prometheus_address}",
            "--web.enable-lifecycle",
        ]

    def prepare(self) -> None:
        rules = monitoring_sources(self.settings) / RULES_SOURCE
        write_targets(self.targets_dir, scrape_targets(self.settings))
        config = prometheus_config(self.settings, rules=rules, targets_dir=self.targets_dir)
        _write_yaml(self.config, config)

    def converge(self) -> None:
        write_targets(self.targets_dir, scrape_targets(self.settings))


class Alertmanager(ServiceProcess):
    def __init__(self, settings: DevstackSettings) -> None:
        addr = settings.alertmanager_address
        self.home = settings.state_path / "alertmanager"
        self.config = self.home / "alertmanager.yml"
        super().__init__(
            settings,
            name="alertmanager",
            argv=[],
            port=addr.port,
            host=addr.host,
            health_url=f"http://{addr}/-/ready",
            marker=f"--config.file={self.config}",
            start_timeout=settings.monitoring_start_timeout_s,
        )

    def argv(self) -> list[str]:
        s = self.settings
        return [
            find_binary(s.alertmanager_bin, "alertmanager"),
            f"--config.file={self.config}",
            f"--storage.path={self.home / 'data'}",
            "--data.retention=24h",
            f"--web.listen-address={s.alertmanager_address}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ]

    def prepare(self) -> None:
        source = load_yaml(monitoring_sources(self.settings) / ALERTMANAGER_SOURCE)
        _write_yaml(self.config, alertmanager_config(self.settings, source))


def refresh_targets(settings: DevstackSettings) -> None:
    """Rewrite Prometheus's targets from the replicas that run now (no-op without Prometheus)."""
    prometheus = Prometheus(settings)
    if prometheus.current_pid() is not None:
        write_targets(prometheus.targets_dir, scrape_targets(settings))
