"""The whole platform end to end, every service a process of an isolated dev stack.

publish -> ingest -> validate -> store labels -> train (Optuna, small config) -> promote ->
stream valuations + gateway predictions -> rows in PostgreSQL -> inject drift (area x1.3) ->
drift alert -> automatic retraining (drift monitor, auto-retrain on) -> new champion -> hot
swap (gateway answers carry the new version). Asserts on PostgreSQL rows and on the events of
each topic (the counts add up; every prediction names its model version).

The drift monitor is part of the platform (no part is skipped). Sizes:
``VALORA_E2E_LISTINGS`` (3,000), ``VALORA_E2E_DRIFT_LISTINGS`` (3,000),
``VALORA_E2E_TRIALS`` (3), ``VALORA_E2E_DRIFT_WINDOW`` (500), ``VALORA_E2E_GATEWAY_CALLS`` (50),
``VALORA_E2E_FUZZ_EXAMPLES`` (10: a short schemathesis run against the live gateway).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from e2e_support import (
    Services,
    by_source,
    listings,
    query,
    raw_values,
    run_env,
    service,
    spec_of,
    stream_rows,
    wait_ready,
    write_training_config,
)
from kafka_support import TopicCollector, prepare, publish
from valora_devstack import DevstackSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

N_LISTINGS = int(os.environ.get("VALORA_E2E_LISTINGS", "3000"))
N_DRIFT = int(os.environ.get("VALORA_E2E_DRIFT_LISTINGS", "3000"))
TRIALS = int(os.environ.get("VALORA_E2E_TRIALS", "3"))
DRIFT_WINDOW = int(os.environ.get("VALORA_E2E_DRIFT_WINDOW", "500"))
GATEWAY_CALLS = int(os.environ.get("VALORA_E2E_GATEWAY_CALLS", "50"))
FUZZ_EXAMPLES = int(os.environ.get("VALORA_E2E_FUZZ_EXAMPLES", "10"))

LISTING_TOPICS = ["listings.validated.v1", "listings.rejected.v1", "listings.raw.dlq.v1",
                  "listings.ingested.dlq.v1"]  # fmt: skip
MODEL_TOPICS = ["training.requests.v1", "models.trained.v1", "models.promoted.v1",
                "predictions.made.v1", "drift.alerts.v1"]  # fmt: skip
SEED_BODY = {"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1,
             "bairro": "Zona Sul"}  # fmt: skip


def step(name: str, started: float, **figures: Any) -> None:
    extra = "  ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[e2e] {time.monotonic() - started:7.1f}s  {name}  {extra}", flush=True)


@dataclass
class Platform:
    settings: DevstackSettings
    run_id: str
    model: str
    gateway_url: str
    env: dict[str, str]
    figures: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def platform(
    e2e_stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    import uuid

    run_id = f"p2e{uuid.uuid4().hex[:8]}"
    settings = e2e_stack
    config = write_training_config(tmp_path_factory.mktemp("e2e") / "training.yaml", TRIALS)
    env = {
        **run_env(run_id),
        "VALORA_TRAINING_CONFIG": str(config),
        "VALORA_DRIFT_AUTO_RETRAIN": "true",
        "VALORA_DRIFT_WINDOW_SIZE": str(DRIFT_WINDOW),
        "VALORA_DRIFT_WINDOW_MIN_SIZE": str(min(200, DRIFT_WINDOW)),
        "VALORA_DRIFT_PREDICTION_WINDOW_SIZE": str(DRIFT_WINDOW),
        "VALORA_DRIFT_COOLDOWN_S": "0",
        "VALORA_DRIFT_RETRAIN_COOLDOWN_S": "0",
        "VALORA_DRIFT_REFERENCE_POLL_S": "2",
        "VALORA_DRIFT_OUTBOX_INTERVAL_S": "2",
    }
    await prepare(settings.kafka_bootstrap_servers, run_id)
    managed = Services()
    names = ["ingestion", "validator", "trainer", "predictor", "gateway", "drift_monitor"]
    try:
        for name in names:
            await asyncio.to_thread(managed.add(service(settings, name, env)).up)
        gateway_port = spec_of("gateway").port + settings.service_port_offset
        yield Platform(
            settings=settings,
            run_id=run_id,
            model=env["VALORA_MODEL_NAME"],
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            env=env,
        )
    finally:
        managed.stop_all()


async def _predict(client: httpx.AsyncClient, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        r = await client.post("/predict", json={**SEED_BODY, "area": 60.0 + i})
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


async def _until(predicate: Any, *, timeout_s: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _requested(log: Any) -> set[str]:
    """Ids of the training requests seen on ``training.requests.v1``."""
    return {r["request_id"] for r in log.records.get("training.requests.v1", [])}


def _trained(log: Any) -> Counter[str]:
    """``models.trained.v1`` events per request id."""
    return Counter(t["request_id"] for t in log.records.get("models.trained.v1", []))


async def test_platform_end_to_end(platform: Platform) -> None:
    from valora_contracts import TrainingRequested
    from valora_messaging import encode_event
    from valora_ml.synthetic import DriftSpec

    p = platform
    s = p.settings
    boot = s.kafka_bootstrap_servers
    t0 = time.monotonic()
    model_bytes = p.model.encode()
    keep_listing = by_source(p.run_id)
    collector = TopicCollector(
        bootstrap=boot,
        topics=[*LISTING_TOPICS, *MODEL_TOPICS],
        keep=lambda t, v: (model_bytes in v) if t in MODEL_TOPICS else keep_listing(t, v),
    )
    await collector.start()
    log = collector.log
    try:
        # 1. publish -> validate -> labels in the training store
        first = listings(p.run_id, N_LISTINGS, seed=21)
        await publish(boot, "listings.raw.v1", raw_values(first))
        outcome_n = lambda: sum(log.count(t) for t in LISTING_TOPICS)  # noqa: E731
        await _until(lambda: outcome_n() >= N_LISTINGS, timeout_s=180, what="validation")
        validated_1 = log.count("listings.validated.v1")
        step("validated", t0, validated=validated_1, rejected=log.count("listings.rejected.v1"))

        def stored_labels() -> int:
            return int(query(s, "SELECT count(*) FROM training_listings WHERE source = %(s)s",
                             {"s": p.run_id})[0][0])  # fmt: skip

        await _until(lambda: stored_labels() >= validated_1, timeout_s=120, what="labels")
        step("labels stored", t0, rows=stored_labels())

        # 2. train -> gate -> promote
        request = TrainingRequested(
            model_name=p.model, reason="manual", requested_by="e2e", trials=TRIALS
        )
        await publish(boot, "training.requests.v1", [encode_event(request)],
                      keys=[model_bytes])  # fmt: skip
        await _until(lambda: log.count("models.promoted.v1") >= 1, timeout_s=600,
                     what="the first champion")  # fmt: skip
        v1 = log.records["models.promoted.v1"][0]["model_version"]
        # the run promotes, then reports on models.trained.v1 (one event per request)
        await _until(lambda: log.count("models.trained.v1") >= 1, timeout_s=60,
                     what="the first run's report")  # fmt: skip
        trained_1 = log.records["models.trained.v1"][0]
        assert trained_1["request_id"] == request.request_id
        assert trained_1["model_version"] == v1
        step("champion v1", t0, version=v1, metrics=trained_1.get("metrics"))

        # 3. stream valuations of every validated listing (they waited for a champion)
        await _until(lambda: stream_rows(s, p.run_id)[0] >= validated_1, timeout_s=180,
                     what="stream valuations")  # fmt: skip
        # 4. gateway predictions
        await asyncio.to_thread(wait_ready, int(p.gateway_url.rsplit(":", 1)[1]), 120.0)
        async with httpx.AsyncClient(base_url=p.gateway_url, timeout=30) as client:
            answers_1 = await _predict(client, GATEWAY_CALLS)
        assert {a["model_version"] for a in answers_1} == {v1}
        step("served v1", t0, stream_rows=stream_rows(s, p.run_id), gateway=len(answers_1))

        # 5. drift -> alert -> automatic retraining -> new champion -> hot swap
        drifted = listings(p.run_id, N_DRIFT, seed=22, prefix="D",
                           drift=DriftSpec.from_cli(["shift:area=1.3"]))  # fmt: skip
        await publish(boot, "listings.raw.v1", raw_values(drifted))
        await _until(
            lambda: any(a["state"] == "firing" and a["kind"] == "data"
                        for a in log.records.get("drift.alerts.v1", [])),
            timeout_s=300, what="a data drift alert",
        )  # fmt: skip
        alerts = log.records["drift.alerts.v1"]
        step("drift alert", t0, alerts=[(a["kind"], a["feature"], a["severity"], a["state"])
                                        for a in alerts])  # fmt: skip
        try:
            await _until(lambda: log.count("models.promoted.v1") >= 2, timeout_s=900,
                         what="the drift retraining's champion")  # fmt: skip
        except AssertionError as exc:  # say why: each request's outcome and each run's gate
            requests = query(
                s,
                "SELECT reason, status, attempts, stage, model_version, gate_passed, error"
                " FROM training_requests WHERE model_name = %(m)s ORDER BY created_at",
                {"m": p.model},
            )
            gates = [(t["model_version"], t["metrics"]["rmse"], t["gate"])
                     for t in log.records.get("models.trained.v1", [])]  # fmt: skip
            raise AssertionError(f"{exc}; requests={requests}; trained={gates}") from exc
        v2 = log.records["models.promoted.v1"][-1]["model_version"]
        reasons = Counter(r["reason"] for r in log.records["training.requests.v1"])
        step("champion v2", t0, version=v2, requests=dict(reasons))

        async with httpx.AsyncClient(base_url=p.gateway_url, timeout=30) as client:
            swapped: list[dict[str, Any]] = []

            async def answers_v2() -> bool:
                swapped[:] = await _predict(client, 1)
                return swapped[0]["model_version"] == v2

            await _until(answers_v2, timeout_s=60, what="the gateway to answer with v2",
                         interval=0.5)  # fmt: skip
            answers_2 = await _predict(client, GATEWAY_CALLS)
        assert {a["model_version"] for a in answers_2} == {v2}

        # 6. everything adds up
        total = N_LISTINGS + N_DRIFT
        await _until(lambda: outcome_n() >= total, timeout_s=180, what="all outcomes")
        validated = log.count("listings.validated.v1")
        await _until(lambda: stream_rows(s, p.run_id)[0] >= validated, timeout_s=240,
                     what="all stream valuations")  # fmt: skip
        await collector.quiet(3.0)
        rows = stream_rows(s, p.run_id)
        by_version = dict(query(
            s, "SELECT model_version, count(*) FROM predictions WHERE model_name = %(m)s"
               " GROUP BY model_version", {"m": p.model}))  # fmt: skip
        null_lineage = query(
            s,
            "SELECT count(*) FROM predictions WHERE model_name = %(m)s AND (model_version = ''"
            " OR run_id = '' OR input_hash = '' OR trace_id = '')",
            {"m": p.model},
        )[0][0]
        sync_n = query(
            s,
            "SELECT count(*), count(DISTINCT input_id) FROM predictions"
            " WHERE model_name = %(m)s AND source = 'sync'",
            {"m": p.model},
        )[0]
        # every training request (the manual one, each drift one) is answered by exactly one
        # models.trained.v1; a drift request that arrived during a run is trained in the next
        await _until(lambda: _requested(log) <= set(_trained(log)), timeout_s=600,
                     what="a models.trained.v1 for every training request")  # fmt: skip
        requested, trained = _requested(log), _trained(log)
        reasons = Counter(r["reason"] for r in log.records["training.requests.v1"])
        made = log.records.get("predictions.made.v1", [])
        made_ids = [m["result"]["prediction_id"] for m in made]
        stored_alerts = query(s, "SELECT kind, feature, severity, state FROM drift_alerts"
                                 " WHERE model_name = %(m)s", {"m": p.model})  # fmt: skip
        figures = {
            "listings": total,
            "validated": validated,
            "rejected": log.count("listings.rejected.v1"),
            "stream_rows": rows,
            "sync_rows": sync_n,
            "rows_by_version": by_version,
            "predictions_made_events": len(made),
            "training_requests": dict(reasons),
            "trained": sum(trained.values()),
            "promoted": log.count("models.promoted.v1"),
            "alerts_topic": [(a["feature"], a["severity"], a["state"]) for a in alerts],
            "alerts_table": len(stored_alerts),
            "seconds": round(time.monotonic() - t0, 1),
        }
        p.figures.update(figures)
        step("totals", t0, **figures)

        assert outcome_n() == total
        assert rows == (validated, validated, validated), "one stream prediction per listing"
        assert sync_n[0] == sync_n[1], "a sync prediction row is duplicated"
        assert sync_n[0] >= 2 * GATEWAY_CALLS
        assert set(by_version) <= {v1, v2}
        assert v2 in by_version
        assert null_lineage == 0, "a prediction without its lineage"
        assert sum(by_version.values()) == rows[0] + sync_n[0]
        assert len(made_ids) == len(set(made_ids)), "a prediction published twice"
        assert len(made) == rows[0] + sync_n[0], "predictions.made.v1 != stored predictions"
        assert all(m["result"]["model_version"] in (v1, v2) for m in made)
        assert reasons["manual"] == 1
        assert reasons["drift"] >= 1
        assert set(trained) == requested, "a models.trained.v1 for a request never made"
        assert all(n == 1 for n in trained.values()), f"a request answered twice: {trained}"
        # one firing notification per condition and severity (an escalation warning ->
        # critical is a second one by design; a repeat at the same severity is not)
        firing = Counter((a["dedupe_key"], a["severity"]) for a in alerts if a["state"] == "firing")
        assert all(n == 1 for n in firing.values()), f"a condition fired twice: {firing}"
        assert len(stored_alerts) >= len(alerts)
        assert any(a["feature"] == "area" for a in alerts if a["kind"] == "data")
    finally:
        await collector.stop()


def test_live_gateway_conforms_to_its_schema(platform: Platform) -> None:
    """A short schemathesis run with every built-in check against the real gateway of the
    platform (real predictor, PostgreSQL, Kafka): no 5xx, documented statuses, headers and
    bodies, schema-valid requests accepted and schema-invalid ones refused."""
    import schemathesis  # a dev dependency: missing, the test fails rather than skips
    from schemathesis import checks as st_checks

    config = schemathesis.Config.from_dict(
        {"seed": 7, "generation": {"max-examples": FUZZ_EXAMPLES, "deterministic": True,
                                   "database": "none", "mode": "all"}}
    )  # fmt: skip
    schema = schemathesis.openapi.from_url(f"{platform.gateway_url}/openapi.json", config=config)
    st_checks.load_all_checks()  # every built-in check, as a schema-driven client runs them
    # The local stack runs without API keys (in ``local`` a scope without keys is open, as the
    # older project's clients expect), so ``ignored_auth`` is left to the fuzz tier, which runs it
    # against the same app with keys configured (tests/fuzz/test_gateway_schemathesis.py).
    checks = [c for c in st_checks.CHECKS.get_all() if c.__name__ != "ignored_auth"]
    assert len(checks) >= 10, "schemathesis's built-in checks are not loaded"
    # an upload is a file: the schema cannot say it needs a header and a row, so a
    # schema-valid empty file is rightly refused (422)
    upload_checks = [c for c in checks if c.__name__ != "positive_data_acceptance"]
    failures: list[str] = []
    cases = 0
    from hypothesis import given, settings

    def make_run(operation: Any) -> Any:
        label = operation.label
        # and the valuation routes hold houses to the data contract too (cross-field rules the
        # schema cannot state): a schema-valid house may get 422 naming the rule
        contract = label in ("POST /predict", "POST /predict/batch")
        chosen = upload_checks if label == "POST /batch-jobs" or contract else checks

        @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            try:
                case.call_and_validate(checks=chosen, timeout=30)
            except Exception as exc:
                failures.append(f"{label}: {str(exc).splitlines()[0:6]}")

        return run

    for result in schema.get_all_operations():
        make_run(result.ok())()
    distinct = sorted(set(failures))
    print(f"\n[e2e] live schemathesis: {cases} cases, {len(distinct)} distinct failures")
    for f in distinct:
        print("   ", f)
    assert not distinct


async def test_oversized_integer_is_rejected_and_blocks_nobody(platform: Platform) -> None:
    """Found by the live schemathesis run: ``bedrooms`` = 2**67 passes the contract (``int``,
    ``ge=0``, no upper bound), then the predictor's ``input_hash`` (orjson) raises
    ``TypeError: Integer exceeds 64-bit range``; the request batch is nacked and redelivered
    forever (a poison message), the caller gets 504 after 10 s, and every request batched with
    it times out too. Expected: a 4xx at the gateway, and other callers unaffected.
    Runs after test_platform_end_to_end (it needs the champion)."""
    bad = {**SEED_BODY, "quartos": 2**67}
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:
        ok = await client.post("/predict", json=SEED_BODY)
        assert ok.status_code == 200, f"no champion served ({ok.status_code}): run the module"
        started = time.monotonic()
        poisoned, *others = await asyncio.gather(
            client.post("/predict", json=bad),
            *(client.post("/predict", json={**SEED_BODY, "area": 70.0 + i}) for i in range(20)),
        )
        elapsed = time.monotonic() - started
        after = [await client.post("/predict", json=SEED_BODY) for _ in range(5)]
    statuses = Counter(r.status_code for r in others)
    print(f"\n[e2e] oversized integer: {poisoned.status_code} in {elapsed:.1f}s; "
          f"others {dict(statuses)}; after {[r.status_code for r in after]}")  # fmt: skip
    assert 400 <= poisoned.status_code < 500, poisoned.text
    assert statuses == Counter({200: 20}), "requests batched with the bad one failed"
    assert all(r.status_code == 200 for r in after)
