"""The routing file on a real Alertmanager (the dev stack's component): one notification per
model and alert name, a critical alert silences the warnings of its model and only those, and
alerts without a model inhibit nothing. Needs the prometheus-alertmanager binary (`make
monitoring`), not the rest of the stack."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from valora_devstack import DevstackSettings
from valora_devstack.monitoring import Alertmanager

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def received() -> Iterator[tuple[list[dict[str, Any]], str]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield got, f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path, received: tuple[list[dict[str, Any]], str]) -> Iterator[str]:
    settings = DevstackSettings(
        state_dir=tmp_path / "state",
        alertmanager_port=_free_port(),
        alert_webhook_url=received[1],
        alertmanager_group_wait_s=1.0,
        alertmanager_group_interval_s=2.0,
    )
    component = Alertmanager(settings)
    component.up()
    try:
        yield f"http://{settings.alertmanager_address}"
    finally:
        component.down()


def _alert(**labels: str) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": "test", "runbook_url": "docs/x"}}


def test_grouping_by_model_and_alert_and_inhibition_within_a_model(
    alertmanager: str, received: tuple[list[dict[str, Any]], str]
) -> None:
    got, _ = received
    alerts = [
        _alert(alertname="DriftDetected", severity="critical", model="m1", kind="data"),
        _alert(alertname="DriftDetected", severity="critical", model="m1", kind="prediction"),
        _alert(alertname="ModelPerformanceDegraded", severity="warning", model="m1"),
        _alert(alertname="ModelPerformanceDegraded", severity="warning", model="m2"),
        _alert(alertname="ServiceDown", severity="critical", job="gateway", instance="g:1"),
        _alert(alertname="ConsumerLagGrowing", severity="warning", group="g", topic="t"),
    ]
    response = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text
    expected = {
        ("DriftDetected", "m1"),
        ("ModelPerformanceDegraded", "m2"),
        ("ServiceDown", ""),
        ("ConsumerLagGrowing", ""),
    }
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        groups = {(p["groupLabels"]["alertname"], p["groupLabels"].get("model", "")) for p in got}
        if expected <= groups:
            break
        time.sleep(0.2)
    time.sleep(3)  # more than a group interval: anything inhibited would have arrived by now
    groups = [(p["groupLabels"]["alertname"], p["groupLabels"].get("model", "")) for p in got]
    assert sorted(groups) == sorted(expected)  # one notification each; m1's warning is silenced
    drift = next(
        p for p in got if p["groupLabels"] == {"alertname": "DriftDetected", "model": "m1"}
    )
    assert sorted(a["labels"]["kind"] for a in drift["alerts"]) == ["data", "prediction"]
    assert all(p["receiver"] == "on-call" and p["status"] == "firing" for p in got)
