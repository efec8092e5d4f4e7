"""Data path against real Kafka: raw -> ingestion -> validator -> validated / rejected / DLQ.

Both services run as subprocesses (``python -m valora_ingestion`` / ``valora_validator``) with
their own consumer groups and transactional ids; every record of a run carries a unique
``source`` so the assertions ignore whatever earlier runs left on the (persistent) topics.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_datapath_support import (
    OutcomeCollector,
    Outcomes,
    prepare_topics,
    publish_raw,
    start_services,
    wait_pipeline_ready,
)
from valora_contracts.data_contract import load_data_contract
from valora_ml.synthetic import generate_listings, iter_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

N = 20_000
_ID = re.compile(rb'"listing_id":\s*"([^"]+)"')


@dataclass
class Dataset:
    values: list[bytes]
    expected: dict[str, str]  # listing_id -> validated | rejected | dlq

    def counts(self) -> Counter[str]:
        return Counter(self.expected.values())


def build_dataset(run_id: str, *, n: int = N, seed: int = 11) -> Dataset:
    """About 95% synthetic listings (either naming) and 5% malformed, mistyped or out of
    contract; the expected outcome of each is decided here, independently of the services."""
    rnd = random.Random(seed)
    contract = load_data_contract()
    n_bad = n // 20
    frame = generate_listings(n - n_bad, seed=seed)
    values: list[bytes] = []
    expected: dict[str, str] = {}
    for i, record in enumerate(iter_records(frame)):
        listing_id = f"{run_id}-{i}"
        checked = {**record, "source": run_id}
        outcome = "rejected" if contract.evaluate(checked) else "validated"
        if i % 2:  # the older API's Portuguese names
            record = {
                "area": record["area"],
                "quartos": record["bedrooms"],
                "banheiros": record["bathrooms"],
                "idade": record["age"],
                "garagem": record["garage"],
                "bairro": record["neighbourhood"],
                "preco": record["price"],
            }
        values.append(orjson.dumps({**record, "listing_id": listing_id, "source": run_id}))
        expected[listing_id] = outcome
    base = {
        "area": 90.0,
        "bedrooms": 2,
        "bathrooms": 1,
        "age": 12.0,
        "garage": 1,
        "neighbourhood": "Zona Norte",
        "price": 300_000.0,
        "source": run_id,
    }
    mistyped: list[dict[str, Any]] = [
        {"bedrooms": "three"},
        {"area": "NaN"},
        {"area": -5},
        {"neighbourhood": 12},
        {"garage": [1]},
        {"neighbourhood": "Zona\u0000Sul"},
        {"bathrooms": 1.5},
        {"age": None},
    ]
    out_of_contract: list[dict[str, Any]] = [
        {"age": 5000.0},
        {"garage": 500},
        {"bathrooms": 60},
        {"area": 90_000.0},
        {"price": 3.0},
    ]
    for j in range(n_bad):
        listing_id = f"{run_id}-bad{j}"
        kind = j % 3
        if kind == 0:
            values.append(
                f'{{"listing_id": "{listing_id}", "source": "{run_id}", "area": '.encode()
            )
            expected[listing_id] = "dlq"
        elif kind == 1:
            broken = {**base, **rnd.choice(mistyped), "listing_id": listing_id}
            values.append(orjson.dumps(broken))
            expected[listing_id] = "dlq"
        else:
            wrong = {**base, **rnd.choice(out_of_contract), "listing_id": listing_id}
            values.append(orjson.dumps(wrong))
            expected[listing_id] = "rejected"
    rnd.shuffle(values)
    return Dataset(values=values, expected=expected)


def assert_outcomes(data: Dataset, got: Outcomes) -> None:
    counts = data.counts()
    assert got.by_topic["dlq_ingested"] == 0
    assert got.by_topic["validated"] == counts["validated"]
    assert got.by_topic["rejected"] == counts["rejected"]
    assert got.by_topic["dlq"] == counts["dlq"]
    assert got.total == len(data.values)

    validated_ids = [v["listing_id"] for v in got.validated]
    assert len(set(validated_ids)) == len(validated_ids), "a listing was validated twice"
    assert {i for i, o in data.expected.items() if o == "validated"} == set(validated_ids)
    rejected_ids = {r["listing_id"] for r in got.rejected}
    assert {i for i, o in data.expected.items() if o == "rejected"} == rejected_ids
    assert all(r["violations"] and r["contract_version"] for r in got.rejected)
    dead_ids = set()
    for letter in got.dead:
        assert letter.error
        assert letter.error_type
        match = _ID.search(letter.original)
        assert match is not None
        dead_ids.add(match.group(1).decode())
    assert {i for i, o in data.expected.items() if o == "dlq"} == dead_ids


@pytest.fixture
def run_id() -> str:
    return f"dp-{uuid.uuid4().hex[:10]}"


async def test_every_listing_ends_up_exactly_once(
    devstack: Any, run_id: str, tmp_path: Path
) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    await prepare_topics(bootstrap)
    data = build_dataset(run_id)
    collector = OutcomeCollector(bootstrap=bootstrap, marker=run_id)
    await collector.start()
    ingestion, validator = await asyncio.to_thread(
        start_services, run_id=run_id, bootstrap=bootstrap, log_dir=tmp_path
    )
    try:
        await wait_pipeline_ready(bootstrap=bootstrap, collector=collector)
        await publish_raw(bootstrap=bootstrap, values=data.values)
        got = await collector.wait_for(len(data.values), timeout_s=120)
        await asyncio.sleep(2.0)  # anything extra (a duplicate) would show up by now
        assert_outcomes(data, got)
        assert "valora_validator_outcomes_total" in await asyncio.to_thread(validator.metrics)
    finally:
        await collector.stop()
        ingestion.stop()
        validator.stop()


async def test_kill_9_and_restart_loses_and_duplicates_nothing(
    devstack: Any, run_id: str, tmp_path: Path
) -> None:
    bootstrap = devstack.kafka_bootstrap_servers
    await prepare_topics(bootstrap)
    data = build_dataset(run_id, seed=23)
    collector = OutcomeCollector(bootstrap=bootstrap, marker=run_id)
    await collector.start()
    # small batches, so that kills land in the middle of the stream and of transactions
    ingestion, validator = await asyncio.to_thread(
        start_services,
        run_id=run_id,
        bootstrap=bootstrap,
        log_dir=tmp_path,
        VALORA_KAFKA_BATCH_MAX_RECORDS="200",
    )
    try:
        await wait_pipeline_ready(bootstrap=bootstrap, collector=collector)
        publishing = asyncio.create_task(publish_raw(bootstrap=bootstrap, values=data.values))
        for victim, fraction in ((ingestion, 0.2), (validator, 0.55)):
            while collector.outcomes.total < fraction * len(data.values):
                assert not publishing.done() or publishing.exception() is None
                await asyncio.sleep(0.05)
            victim.kill()
            victim.start()
            await asyncio.to_thread(victim.wait_ready)
        await publishing
        got = await collector.wait_for(len(data.values), timeout_s=150)
        await asyncio.sleep(3.0)
        assert_outcomes(data, got)
    finally:
        await collector.stop()
        ingestion.stop()
        validator.stop()
