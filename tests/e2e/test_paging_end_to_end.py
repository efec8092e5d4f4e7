"""On-call end to end: drifted listings page on-call through the real Prometheus and Alertmanager.

publish drifted listings to ``listings.raw.v1`` -> ingestion -> validator -> drift monitor
(window closes, ``valora_drift_alert_firing`` = 2) -> Prometheus scrapes it and evaluates the
repository's rules file (``DriftDetected``) -> Alertmanager (the repository's routing file)
delivers ONE grouped notification for (model, DriftDetected) to this test's webhook; then clean
listings clear the drift and a ``resolved`` notification for the same group arrives. Prints the
seconds from publication to each notification.

Everything runs as processes of the isolated e2e stack (``VALORA_E2E_PORT_BASE``); Prometheus
and Alertmanager use short intervals (1 s scrape and evaluation, 1 s group wait, 2 s group
interval) so the test takes seconds, not minutes. ``VALORA_E2E_ALERT_WINDOW`` (1,000) listings
make one drift window.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Services, listings, raw_values, run_env, service
from kafka_support import prepare, publish
from valora_devstack import DevstackSettings
from valora_devstack.monitoring import Alertmanager, Prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

WINDOW = int(os.environ.get("VALORA_E2E_ALERT_WINDOW", "1000"))


@dataclass
class Webhook:
    """The test's Alertmanager receiver: every notification with the time it arrived."""

    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.received.append((time.monotonic(), payload))

    def for_group(self, group: dict[str, str]) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, p) for t, p in self.received if p.get("groupLabels") == group]


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.add(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()


def register_reference_champion(tracking_uri: str, name: str) -> str:
    """A small PriceModel as ``name@champion`` whose run holds the drift reference profile and
    test metrics (the trainer's convention); returns the version."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import Ridge
    from valora_ml.conformal import conformal_half_width
    from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline, contract_frame
    from valora_ml.pricemodel import PROFILE_ARTIFACT, PriceModel, model_metadata
    from valora_ml.profile import PROFILE_FILENAME, build_reference_profile
    from valora_ml.synthetic import generate_listings

    frame = generate_listings(6000, seed=11)
    train, calib = frame.iloc[:4500], frame.iloc[4500:]
    pipeline = build_feature_pipeline(Ridge(alpha=1.0))
    pipeline.fit(train[list(FEATURE_COLUMNS)], train["price"])
    half = conformal_half_width(calib["price"], pipeline.predict(calib[list(FEATURE_COLUMNS)]))
    model = PriceModel(pipeline, half_width=half, level=0.9, model_family="ridge")
    train_x = contract_frame(train)
    profile = build_reference_profile(train_x, model.predict_price(train_x), bins=10)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"valora-e2e-alerting-{name}")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run():
        path = Path(tmp) / PROFILE_FILENAME
        path.write_text(profile.model_dump_json(), encoding="utf-8")
        mlflow.log_artifact(str(path))
        mlflow.log_metrics({"test_mae": 20000.0, "test_mape": 0.1})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={PROFILE_ARTIFACT: str(path)},
            metadata=model_metadata(half_width=half, level=0.9, model_family="ridge"),
            registered_model_name=name,
            pip_requirements=["scikit-learn", "pandas", "numpy"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(name, "champion", version)
    return version


def _firing_gauge(port: int, model: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("valora_drift_alert_firing{") and f'model_name="{model}"' in line
    ]
    return max(values, default=0.0)


async def _until(predicate: Any, *, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


async def test_drift_pages_once_per_group_and_resolves(
    e2e_stack: DevstackSettings, webhook: tuple[Webhook, str]
) -> None:
    from valora_ml.synthetic import DriftSpec

    hook, hook_url = webhook
    settings = e2e_stack
    run_id = f"al{uuid.uuid4().hex[:8]}"
    env = {
        **run_env(run_id),
        "VALORA_DRIFT_WINDOW_SIZE": str(WINDOW),
        "VALORA_DRIFT_WINDOW_MIN_SIZE": str(WINDOW // 2),
        "VALORA_DRIFT_PREDICTION_WINDOW_SIZE": str(WINDOW),
        "VALORA_DRIFT_COOLDOWN_S": "0",
        "VALORA_DRIFT_RESOLVE_AFTER": "1",
        "VALORA_DRIFT_REFERENCE_POLL_S": "1",
    }
    model = env["VALORA_MODEL_NAME"]
    await asyncio.to_thread(register_reference_champion, settings.mlflow_url_str, model)
    await prepare(settings.kafka_bootstrap_servers, run_id)
    monitoring = settings.model_copy(
        update={
            "alert_webhook_url": hook_url,
            "prometheus_scrape_interval_s": 1.0,
            "prometheus_evaluation_interval_s": 1.0,
            "alertmanager_group_wait_s": 1.0,
            "alertmanager_group_interval_s": 2.0,
            "alertmanager_repeat_interval_s": 3600.0,
        }
    )
    managed = Services()
    try:
        started = [managed.add(service(settings, n, env)) for n in ("ingestion", "validator")]
        monitor = managed.add(service(settings, "drift_monitor", env))
        await asyncio.gather(*(asyncio.to_thread(c.up) for c in [*started, monitor]))
        # fresh configuration (this test's webhook and timers); targets: the replicas just started
        for component in (Alertmanager(monitoring), Prometheus(monitoring)):
            managed.add(component)
            await asyncio.to_thread(component.down)
            await asyncio.to_thread(component.up)
        monitor_port = monitor.ports[0].port
        prom = f"http://127.0.0.1:{monitoring.prometheus_address.port}"
        await _until(
            lambda: _drift_target_up(prom), timeout_s=60, what="Prometheus scraping the monitor"
        )

        group = {"alertname": "DriftDetected", "model": model}
        drifted = listings(
            run_id, WINDOW, seed=21, prefix="D", drift=DriftSpec.from_cli(["shift:area=1.6"])
        )
        t_drift = time.monotonic()
        await publish(settings.kafka_bootstrap_servers, "listings.raw.v1", raw_values(drifted))
        t_gauge = await _until(
            lambda: _firing_gauge(monitor_port, model) >= 1,
            timeout_s=120,
            what="the drift monitor's alert",
        )
        t_page = await _until(
            lambda: hook.for_group(group), timeout_s=60, what="the page at the webhook"
        )
        # a few group intervals more: still exactly one firing notification for the group
        await asyncio.sleep(5)
        pages = hook.for_group(group)
        assert len(pages) == 1, [p for _, p in pages]
        _, page = pages[0]
        assert page["status"] == "firing"
        assert page["receiver"] == "on-call"
        assert {a["labels"]["model"] for a in page["alerts"]} == {model}
        assert {a["labels"]["kind"] for a in page["alerts"]} == {"data"}
        assert {a["labels"]["severity"] for a in page["alerts"]} == {"critical"}
        assert all(a["annotations"]["runbook_url"] for a in page["alerts"])

        clean = listings(run_id, WINDOW, seed=23, prefix="C")
        t_clean = time.monotonic()
        await publish(settings.kafka_bootstrap_servers, "listings.raw.v1", raw_values(clean))
        t_cleared = await _until(
            lambda: _firing_gauge(monitor_port, model) == 0,
            timeout_s=120,
            what="the drift to clear",
        )
        t_resolved = await _until(
            lambda: any(p["status"] == "resolved" for _, p in hook.for_group(group)),
            timeout_s=60,
            what="the resolved notification",
        )
        statuses = [p["status"] for _, p in hook.for_group(group)]
        assert statuses == ["firing", "resolved"], statuses
        print(
            f"\n[e2e] alerting: publication -> drift monitor alert {t_gauge - t_drift:.1f}s, "
            f"-> page at the webhook {t_page - t_drift:.1f}s; clean publication -> drift "
            f"cleared {t_cleared - t_clean:.1f}s, -> resolved notification "
            f"{t_resolved - t_clean:.1f}s",
            flush=True,
        )
    finally:
        managed.stop_all()


def _drift_target_up(prom: str) -> bool:
    try:
        data = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return any(t["labels"].get("job") == "drift-monitor" and t["health"] == "up" for t in data)
