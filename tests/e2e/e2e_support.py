"""Harness of the e2e and fault tests (no tests in here).

One isolated dev stack (own state dir ``<state>/e2e``, own ports: ``VALORA_E2E_PORT_BASE``,
default 12000 -> Kafka 21092, PostgreSQL 17432, MLflow 17000, services 20000/201xx) runs real
Kafka, PostgreSQL and MLflow, and Valora's services as dev-stack processes
(:class:`valora_devstack.component.ServiceProcess`: pid files under ``<state>/e2e/run``,
logs under ``<state>/e2e/logs``), so a test can ``kill -9`` any of them, the broker included,
without touching the session stack other engineers' tests use.

Every test run has its own id: listings carry it as ``source``, models are named after it,
consumer groups and transactional ids contain it and start at the topics' ends. The stack
persists between sessions (fast start) and runs never see each other's records.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from pydantic import AnyHttpUrl, PostgresDsn
from valora_devstack import DevstackSettings
from valora_devstack.http_process import ServiceProcess
from valora_devstack.process import pid_alive, read_pid
from valora_devstack.services import SERVICES, ServiceSpec, service_process

# Every port stays below Linux's ephemeral range (32768+): a listening port in that range can be
# taken by any outgoing connection's local port, and a restart then fails with EADDRINUSE.
# 12000 collides with neither the dev stack (8000-8105, 15000, 15432, 19092) nor the isolated
# stack of tests/integration/test_devstack.py (25000, 25432, 28xxx, 29092).
PORT_BASE = int(os.environ.get("VALORA_E2E_PORT_BASE", "12000"))
STATE_NAME = os.environ.get("VALORA_E2E_STATE_NAME", "e2e")


def e2e_settings() -> DevstackSettings:
    base = DevstackSettings()
    return DevstackSettings(
        state_dir=base.state_path / STATE_NAME,
        kafka_bootstrap_servers=f"127.0.0.1:{PORT_BASE + 9092}",
        kafka_controller_port=PORT_BASE + 9093,
        database_url=PostgresDsn(
            f"postgresql+asyncpg://valora:valora-local-only@127.0.0.1:{PORT_BASE + 5432}/valora"
        ),
        manage_postgres=True,
        mlflow_tracking_uri=AnyHttpUrl(f"http://127.0.0.1:{PORT_BASE + 5000}"),
        service_port_offset=PORT_BASE,
    )


def spec_of(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name or spec.module == f"valora_{name}":
            return spec
    raise KeyError(name)


def run_env(run_id: str) -> dict[str, str]:
    """Per-run names for every service: groups, transactional ids, model, gateway instance."""
    return {
        "VALORA_LOG_JSON": "false",
        "VALORA_LOG_LEVEL": "WARNING",
        "VALORA_MODEL_NAME": f"valora-e2e-{run_id}",
        "VALORA_KAFKA_AUTO_OFFSET_RESET": "earliest",  # groups are committed at the end first
        "VALORA_INGESTION_GROUP_ID": f"{run_id}-ingestion",
        "VALORA_VALIDATOR_GROUP_ID": f"{run_id}-validator",
        "VALORA_PREDICTOR_GROUP_ID": f"{run_id}-predictor",
        "VALORA_PREDICTOR_STREAM_GROUP_ID": f"{run_id}-predictor-stream",
        "VALORA_PREDICTOR_CHAMPION_POLL_S": "5",
        "VALORA_TRAINER_GROUP_ID": f"{run_id}-trainer",
        "VALORA_TRAINING_SOURCES": f'["{run_id}"]',
        "VALORA_GATEWAY_INSTANCE_ID": f"e2e-{run_id}",
        "VALORA_GATEWAY_CHAMPION_CACHE_S": "1",
        "VALORA_DRIFT_GROUP_ID": f"{run_id}-drift",
        "VALORA_DRIFT_REPLICA_ID": f"e2e-{run_id}",
    }


def run_groups(run_id: str) -> dict[str, list[str]]:
    """Consumer group -> topics it reads (to position it at the end before the run)."""
    return {
        f"{run_id}-ingestion": ["listings.raw.v1"],
        f"{run_id}-validator": ["listings.ingested.v1"],
        f"{run_id}-predictor": ["predictions.requests.v1"],
        f"{run_id}-predictor-stream": ["listings.validated.v1"],
        f"{run_id}-trainer": [
            "listings.validated.v1",
            "training.requests.v1",
            "sales.observed.v1",
            "models.verdict.v1",
        ],
        f"{run_id}-drift.listings": ["listings.validated.v1"],
        f"{run_id}-drift.predictions": ["predictions.made.v1"],
        f"{run_id}-drift.sales": ["sales.observed.v1"],
        f"{run_id}-drift.shadow": ["predictions.shadow.v1"],
        f"{run_id}-drift.challengers": ["models.challengers.v1"],
    }


def service(
    settings: DevstackSettings, name: str, env: Mapping[str, str], *, replica: int = 0
) -> ServiceProcess:
    """A Valora service (replica ``replica``) as a dev-stack component of the e2e stack, with
    ``env`` added."""
    return service_process(
        settings, spec_of(name), replica=replica, extra_env=env, start_timeout=180.0
    )


def kill9(component: Any, timeout_s: float = 15.0) -> int:
    """``kill -9`` the component's process (leader of its group); returns the pid."""
    pid = read_pid(component.pid_file)
    assert pid is not None, f"{component.name} has no pid file"
    assert pid_alive(pid), f"{component.name} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), f"{component.name} survived kill -9"
    # the listening socket must be gone before a restart (else: who holds it?)
    import subprocess

    from valora_devstack.process import port_open

    for hp in component.ports:
        deadline = time.monotonic() + 20
        while port_open(hp.host, hp.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
        if port_open(hp.host, hp.port, timeout=0.2):
            holders = subprocess.run(
                ["ss", "-tanp", f"( sport = :{hp.port} or dport = :{hp.port} )"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            raise AssertionError(
                f"{component.name}: port {hp} still open after kill -9:\n{holders}"
            )
    return pid


def wait_ready(port: int, timeout_s: float = 180.0, path: str = "/health/ready") -> float:
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"port {port}{path} not ready in {timeout_s}s")


# ---- listings -----------------------------------------------------------------------------------


def listings(
    run_id: str, n: int, *, seed: int, drift: Any = None, prefix: str = "L"
) -> list[dict[str, Any]]:
    """``n`` synthetic listings (half with the older Portuguese names) of this run."""
    from valora_ml.synthetic import generate_listings, iter_records

    frame = generate_listings(n, seed=seed, drift=drift)
    out = []
    for i, record in enumerate(iter_records(frame, naming="pt" if seed % 2 else "en")):
        out.append({**record, "listing_id": f"{run_id}-{prefix}{i}", "source": run_id})
    return out


def raw_values(records: Iterable[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def by_source(run_id: str) -> Callable[[str, bytes], bool]:
    needle = f'"source":"{run_id}"'.encode()
    spaced = f'"source": "{run_id}"'.encode()
    marker = run_id.encode()

    def keep(topic_name: str, value: bytes) -> bool:
        if ".dlq." in topic_name:
            return marker in value
        return needle in value or spaced in value

    return keep


def validated_values(run_id: str, n: int, *, seed: int = 11) -> tuple[list[bytes], list[bytes]]:
    """``n`` ``ValidatedListing`` records of this run (values, keys), as the validator writes."""
    from valora_contracts import ListingFeatures, ValidatedListing, utcnow

    values, keys = [], []
    for i, r in enumerate(listings(run_id, n, seed=seed, prefix="S")):
        listing = ValidatedListing(
            listing_id=r["listing_id"],
            source=run_id,
            ingested_at=utcnow(),
            features=ListingFeatures.model_validate(
                {k: v for k, v in r.items() if k not in ("listing_id", "source", "price", "preco")}
            ),
            content_hash=f"{run_id}{i:08d}",
            contract_version="e2e",
        )
        values.append(listing.model_dump_json().encode())
        keys.append(listing.listing_id.encode())
    return values, keys


# ---- PostgreSQL ---------------------------------------------------------------------------------


def pg_connect(settings: DevstackSettings) -> psycopg.Connection[Any]:
    pg = settings.pg
    return psycopg.connect(
        host=pg.host,
        port=pg.port,
        user=pg.user,
        password=pg.password,
        dbname=pg.dbname,
        connect_timeout=5,
        autocommit=True,
    )


def query(settings: DevstackSettings, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    with pg_connect(settings) as conn:
        return conn.execute(sql, params or {}).fetchall()


def stream_rows(settings: DevstackSettings, run_id: str) -> tuple[int, int, int]:
    """(rows, distinct listings, distinct (source, input_id)) of the run's stream predictions."""
    rows = query(
        settings,
        "SELECT count(*), count(DISTINCT listing_id), count(DISTINCT input_id) FROM predictions"
        " WHERE source = 'stream' AND listing_id LIKE %(p)s",
        {"p": f"{run_id}-%"},
    )
    total, listings_n, inputs = rows[0]
    return int(total), int(listings_n), int(inputs)


# ---- models -------------------------------------------------------------------------------------


def register_champion(tracking_uri: str, name: str, *, seed: int = 1, n: int = 3000) -> str:
    """A small ridge PriceModel registered as ``name`` with alias ``champion`` (the trainer's
    convention); returns the version. For fault tests that need serving, not training."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import Ridge
    from valora_ml.conformal import conformal_half_width
    from valora_ml.features import FEATURE_COLUMNS, build_feature_pipeline
    from valora_ml.pricemodel import PriceModel, model_metadata
    from valora_ml.synthetic import generate_listings

    frame = generate_listings(n, seed=seed)
    train, calib = frame.iloc[: n * 3 // 4], frame.iloc[n * 3 // 4 :]
    pipeline = build_feature_pipeline(Ridge(alpha=1.0))
    pipeline.fit(train[list(FEATURE_COLUMNS)], train["price"])
    half = conformal_half_width(calib["price"], pipeline.predict(calib[list(FEATURE_COLUMNS)]))
    model = PriceModel(pipeline, half_width=half, level=0.9, model_family="ridge")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(f"valora-e2e-{name}")
    with mlflow.start_run():
        mlflow.log_metric("rmse", 1.0)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            metadata=model_metadata(half_width=half, level=0.9, model_family="ridge"),
            registered_model_name=name,
            pip_requirements=["scikit-learn", "pandas", "numpy"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(name, "champion", version)
    return version


def champion_version(tracking_uri: str, name: str) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


TRAINING_YAML = """\
triggers: {new_labels: 0, bootstrap_min_rows: 100000000, min_rows: 200, max_attempts: 3,
           retry_delay_s: 5}
search:
  trials: %(trials)d
  timeout_s: 240
  cv_folds: 2
  threads: 1
  pruner: {n_startup_trials: 1, n_warmup_steps: 0}
  families:
    random_forest:
      n_estimators: {type: int, low: 20, high: 40, step: 10}
      max_depth: {type: int, low: 6, high: 12}
    hist_gradient_boosting:
      max_iter: {type: int, low: 100, high: 200, step: 50}
  log_target: {type: categorical, choices: [false]}
plots: false
"""


def write_training_config(path: Path, trials: int) -> Path:
    path.write_text(TRAINING_YAML % {"trials": trials})
    return path


# ---- HTTP load ----------------------------------------------------------------------------------


@dataclass
class Load:
    """Results of a gateway load loop: (sent at, status, body or None)."""

    results: list[tuple[float, int, dict[str, Any] | None]] = field(default_factory=list)

    def statuses(self) -> Counter[int]:
        return Counter(s for _, s, _ in self.results)

    def ok(self) -> list[dict[str, Any]]:
        return [b for _, s, b in self.results if s == 200 and b is not None]


async def gateway_load(
    base_url: str,
    *,
    stop: asyncio.Event,
    load: Load,
    workers: int = 4,
    max_requests: int = 100_000,
    pause_s: float = 0.02,
) -> None:
    """POST /predict with the seed body in ``workers`` loops until ``stop`` (bounded count)."""
    body = {"area": 100.0, "quartos": 2, "banheiros": 1, "idade": 5.0, "garagem": 1,
            "bairro": "Centro"}  # fmt: skip

    async def worker(client: httpx.AsyncClient, w: int) -> None:
        i = 0
        while not stop.is_set() and len(load.results) < max_requests:
            i += 1
            sent = time.monotonic()
            try:
                r = await client.post("/predict", json={**body, "area": 50.0 + (w * 997 + i) % 300})
                payload = r.json() if r.headers.get("content-type", "").startswith(
                    "application/json") else None  # fmt: skip
                load.results.append((sent, r.status_code, payload))
            except httpx.HTTPError:
                load.results.append((sent, 0, None))
                await asyncio.sleep(0.5)
            await asyncio.sleep(pause_s)

    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        await asyncio.gather(*(worker(client, w) for w in range(workers)))


class Services:
    """Services started by one test; all stopped at its end."""

    def __init__(self) -> None:
        self.started: list[Any] = []

    def add(self, component: Any) -> Any:
        self.started.append(component)
        return component

    def stop_all(self) -> None:
        for component in reversed(self.started):
            try:
                component.down()
            except Exception as exc:  # keep stopping the others
                print(f"[e2e] stopping {component.name} failed: {exc}")
