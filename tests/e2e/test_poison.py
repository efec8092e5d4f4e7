"""No record can stall a topic: the poison family, on real Kafka, PostgreSQL and MLflow.

For every consumed topic (see :mod:`poison_cases`), three poison records are published, each
followed on the same key (so the same partition) by good records: (a) undecodable bytes, (b) a
record that decodes and fails in processing, (c) a record near the 1 MiB size limit. The test
asserts that the good records behind each are processed within a bound, that every poison
record is in the topic's dead-letter topic exactly once per consuming service with its reason,
and that no service's log grew by more than a few MB. Figures are printed with ``[poison]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Services, query, register_champion, run_env, service, spec_of
from kafka_support import TopicCollector, prepare, producer_session
from poison_cases import CASES, NEAR_LIMIT, Case, Run
from valora_contracts import ALL_TOPICS, DeadLetter, dlq_for, reply_topic, topic_by_name
from valora_devstack import DevstackSettings
from valora_messaging import KafkaSettings, ensure_topics, kafka_security

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SERVICES = ["ingestion", "validator", "trainer", "predictor", "drift_monitor"]
SERVICE_APPS = [f"valora_{name}.bootstrap" for name in SERVICES]
GOOD_WITHIN_S = 90.0
LOG_GROWTH_MAX = 5 * 1024 * 1024
DLQ_TOPICS = sorted({dlq_for(topic_by_name(c.topic)).name for c in CASES})


def test_every_consumed_topic_has_a_poison_case() -> None:
    """Derived from the services' own subscribers: a new consumed topic fails here until it
    gets a case."""
    consumed: set[str] = set()
    for name in SERVICE_APPS:
        app = importlib.import_module(name).build_app(configure_logs=False)
        consumed |= {t for s in app.broker.subscribers for t in s.topic_names}
    assert consumed, "no subscriber found"
    assert consumed - {c.topic for c in CASES} == set()
    assert consumed <= {t.name for t in ALL_TOPICS}


@dataclass
class Family:
    settings: DevstackSettings
    run: Run
    dead: TopicCollector
    outcomes: TopicCollector
    log_dir: Path
    figures: list[dict[str, Any]] = field(default_factory=list)

    def port(self, name: str) -> int:
        return spec_of(name).port + self.settings.service_port_offset

    def metric(self, name: str, sample: str) -> float:
        """The sum of the samples of ``sample`` (``metric{label="v"`` prefix) on a service."""
        text = httpx.get(f"http://127.0.0.1:{self.port(name)}/metrics", timeout=5).text
        metric, _, labels = sample.partition("{")
        wanted = [part for part in labels.rstrip("}").split(",") if part]
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(metric + "{") and all(part in line for part in wanted)
        )

    def rows(self, sql: str, ids: list[str]) -> int:
        return int(query(self.settings, sql, {"ids": ids})[0][0])

    def log_bytes(self) -> dict[str, int]:
        return {
            name: sum(p.stat().st_size for p in self.log_dir.glob(f"{name.replace('_', '-')}*"))
            for name in SERVICES
        }


def _keep(run_id: str) -> Any:
    """Dead letters, and this run's records that are JSON (the poison itself is not)."""
    import orjson

    marker = run_id.encode()

    def keep(topic_name: str, value: bytes) -> bool:
        if ".dlq." not in topic_name and marker not in value:
            return False
        try:
            return isinstance(orjson.loads(value), dict)
        except orjson.JSONDecodeError:
            return False

    return keep


@pytest.fixture(scope="module")
async def family(e2e_stack: DevstackSettings) -> AsyncIterator[Family]:
    settings = e2e_stack
    run_id = f"poi{uuid.uuid4().hex[:8]}"
    env = {
        **run_env(run_id),
        "VALORA_CONSUMER_UNKNOWN_ATTEMPTS": "3",
        "VALORA_CONSUMER_UNKNOWN_INITIAL_S": "1",
        "VALORA_TRAINING_SOURCES": f'["{run_id}"]',
    }
    model = env["VALORA_MODEL_NAME"]
    boot = settings.kafka_bootstrap_servers
    register_champion(settings.mlflow_url_str, model, seed=3)
    promoted = register_champion(settings.mlflow_url_str, model, seed=4)  # v2, now champion
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_url_str, registry_uri=settings.mlflow_url_str)
    client.set_registered_model_alias(model, "champion", "1")  # served at start: v1
    replies = reply_topic(f"poison-{run_id}")
    run = Run(
        run_id, model, replies.name, promoted, client.get_model_version(model, promoted).run_id
    )
    await prepare(boot, run_id, extra_topics=[replies])
    await ensure_topics(settings=KafkaSettings(kafka_bootstrap_servers=boot), topics=[replies])
    dead = TopicCollector(bootstrap=boot, topics=DLQ_TOPICS, keep=_keep(run_id))
    outcomes = TopicCollector(
        bootstrap=boot,
        topics=["listings.ingested.v1", "listings.validated.v1"],
        keep=_keep(run_id),
    )
    await dead.start()
    await outcomes.start()
    managed = Services()
    try:
        for name in SERVICES:
            await asyncio.to_thread(managed.add(service(settings, name, env)).up)
        yield Family(settings, run, dead, outcomes, settings.log_dir)
    finally:
        managed.stop_all()
        await dead.stop()
        await outcomes.stop()


async def _replies(family: Family, correlation_ids: set[str], timeout_s: float) -> bool:
    import orjson
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        family.run.reply_topic,
        bootstrap_servers=family.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(KafkaSettings()),
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not correlation_ids <= seen:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen |= {orjson.loads(r.value)["correlation_id"] for r in records if r.value}
    finally:
        await consumer.stop()
    return correlation_ids <= seen


def _ids(values: list[bytes], *path: str) -> list[str]:
    import orjson

    out = []
    for value in values:
        node = orjson.loads(value)
        for key in path:
            node = node[key]
        out.append(str(node))
    return out


def _stored(family: Family, table: str, column: str, ids: list[str], where: str = "") -> bool:
    sql = f"SELECT count(*) FROM {table} WHERE {column} = ANY(%(ids)s){where}"
    return family.rows(sql, ids) == len(ids)


def _published(family: Family, topic: str, ids: list[str]) -> bool:
    seen = {r["listing_id"] for r in family.outcomes.log.records.get(topic, [])}
    return set(ids) <= seen


def _drift_count(family: Family, event: str) -> float:
    return family.metric("drift_monitor", f'valora_drift_events_total{{event="{event}"')


async def _processed(
    family: Family, case: Case, good: list[bytes], before: dict[str, float]
) -> bool:
    """Whether every consumer of the case's topic handled the good records."""
    topic = case.topic
    if topic == "listings.raw.v1":
        return _published(family, "listings.ingested.v1", _ids(good, "listing_id"))
    if topic == "listings.ingested.v1":
        return _published(family, "listings.validated.v1", _ids(good, "listing_id"))
    if topic == "listings.validated.v1":
        ids = _ids(good, "listing_id")
        return (
            _stored(family, "training_listings", "listing_id", ids)
            and _stored(family, "predictions", "listing_id", ids, " AND source = 'stream'")
            and _drift_count(family, "listing") >= before["listing"] + len(ids)
        )
    if topic == "training.requests.v1":
        return _stored(family, "training_requests", "request_id", _ids(good, "request_id"))
    if topic == "sales.observed.v1":
        ids = _ids(good, "listing_id")
        return _stored(family, "training_sales", "listing_id", ids) and _stored(
            family, "drift_sales", "listing_id", ids
        )
    if topic == "predictions.requests.v1":
        return await _replies(family, set(_ids(good, "correlation_id")), timeout_s=2.0)
    if topic == "predictions.made.v1":
        ids = _ids(good, "result", "listing_id")
        return _stored(family, "drift_predictions", "listing_id", ids)
    if topic == "predictions.shadow.v1":
        ids = _ids(good, "listing_id")
        return _stored(family, "drift_shadow_pairs", "listing_id", ids)
    if topic == "models.challengers.v1":
        handled = 'valora_messages_total{topic="models.challengers.v1",outcome="handled"'
        return family.metric("predictor", handled) >= before["predictor_challengers"] + len(
            good
        ) and _drift_count(family, "challenger") >= before["challenger"] + len(good)
    if topic == "models.verdict.v1":
        handled = 'valora_messages_total{topic="models.verdict.v1",outcome="ok"'
        return family.metric("trainer", handled) >= before["trainer_verdicts"] + len(good)
    if topic == "models.promoted.v1":
        version = family.run.promoted_version
        served = f'valora_predictor_model_version{{model_version="{version}"'
        return (
            family.metric("predictor", served) == 1.0
            and _drift_count(family, "promotion") >= before["promotion"] + 1
        )
    raise AssertionError(f"no observation for {topic}")


async def _round(family: Family, case: Case, kind: str, poison: bytes) -> float:
    good = case.good(family.run, kind)
    before = {e: _drift_count(family, e) for e in ("listing", "promotion", "challenger")}
    before["predictor_challengers"] = family.metric(
        "predictor", 'valora_messages_total{topic="models.challengers.v1",outcome="handled"'
    )
    before["trainer_verdicts"] = family.metric(
        "trainer", 'valora_messages_total{topic="models.verdict.v1",outcome="ok"'
    )
    key = family.run.key(case.topic)
    if case.topic == "models.promoted.v1":  # as the trainer does: the alias moves, then the event
        from mlflow.tracking import MlflowClient

        uri = family.settings.mlflow_url_str
        MlflowClient(uri, registry_uri=uri).set_registered_model_alias(
            family.run.model, "champion", family.run.promoted_version
        )
    started = time.monotonic()
    async with producer_session(family.settings.kafka_bootstrap_servers) as producer:
        for value in (poison, *good):
            await (await producer.send(case.topic, value, key=key))
    deadline = started + GOOD_WITHIN_S
    while time.monotonic() < deadline:
        if await _processed(family, case, good, before):
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"{case.topic}/{kind}: good records behind the poison not processed "
        f"(drift events before {before}, now listing={_drift_count(family, 'listing')} "
        f"promotion={_drift_count(family, 'promotion')})"
    )


async def test_no_poison_record_stalls_its_partition(family: Family) -> None:
    logs_before = family.log_bytes()
    started = time.monotonic()
    expected: dict[str, tuple[Case, str]] = {}
    for case in CASES:
        for kind, poison in case.poisons(family.run).items():
            seconds = await _round(family, case, kind, poison)
            expected[hashlib.sha256(poison).hexdigest()] = (case, kind)
            family.figures.append(
                {"topic": case.topic, "poison": kind, "good_after_s": round(seconds, 1)}
            )

    def letters() -> list[DeadLetter]:
        return [
            DeadLetter.model_validate(r)
            for name in DLQ_TOPICS
            for r in family.dead.log.records.get(name, [])
            if r.get("original_sha256") in expected
        ]

    wanted = sum(len(case.consumers) for case, _ in expected.values())
    await family.dead.wait(lambda _: len(letters()) >= wanted, timeout_s=60)
    await family.dead.quiet(3.0)
    by_poison: dict[str, Counter[str]] = {}
    reasons: dict[tuple[str, str], str] = {}
    for letter in letters():
        by_poison.setdefault(letter.original_sha256, Counter())[letter.service] += 1
        case, kind = expected[letter.original_sha256]
        reasons[(case.topic, kind)] = (
            f"{letter.error_class}/{letter.error_type}: {letter.error[:90]}"
        )
        assert letter.source_topic == case.topic
        assert letter.error, "a dead letter without its reason"
        assert letter.original_truncated == (kind == "oversized")
        assert letter.original_size >= (NEAR_LIMIT if kind == "oversized" else 1)
    for sha, (case, kind) in expected.items():
        assert by_poison.get(sha) == Counter({c: 1 for c in case.consumers}), (
            f"{case.topic}/{kind}: dead letters by service {dict(by_poison.get(sha, {}))}, "
            f"expected one from each of {case.consumers}"
        )
    minutes = (time.monotonic() - started) / 60
    growth = {n: b - logs_before.get(n, 0) for n, b in family.log_bytes().items()}
    for row in family.figures:
        row["dlq_reason"] = reasons.get((row["topic"], row["poison"]), "-")
        print("[poison] " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(f"[poison] log growth bytes={growth} over {minutes:.1f} min", flush=True)
    assert max(growth.values()) < LOG_GROWTH_MAX, f"a log grew by {max(growth.values())} bytes"
