"""Validator: the contract YAML and rule engine as plain functions; the subscriber in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import generate_latest
from valora_contracts import (
    LISTINGS_INGESTED,
    LISTINGS_REJECTED,
    LISTINGS_VALIDATED,
    DataContractError,
    DeadLetter,
    IngestedListing,
    ListingFeatures,
    RejectedListing,
    ValidatedListing,
    dlq_for,
    utcnow,
)
from valora_contracts.data_contract import DataContract, load_data_contract
from valora_messaging import ConsumerRuntime, InRecord
from valora_observability import ServiceMetrics
from valora_validator.entrypoints.handlers import ValidatorHandler, ValidatorMetrics
from valora_validator.entrypoints.subscribers import register_subscribers
from valora_validator.settings import ValidatorSettings

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "area": 120.0,
    "bedrooms": 3,
    "bathrooms": 2,
    "age": 10.0,
    "garage": 1,
    "neighbourhood": "Centro",
    "price": 450_000.0,
    "source": "t",
}


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_data_contract()


def failed_rules(contract: DataContract, **changes: Any) -> set[str]:
    return {v.rule for v in contract.evaluate({**BASE, **changes})}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"age": 130.0},  # a 130-year-old house
        {"bedrooms": 0, "bathrooms": 1, "area": 28.0},  # a studio
        {"garage": 5},  # 5 parking spaces
        {"neighbourhood": "Vila Nunca Vista"},  # an unseen neighbourhood
        {"price": None},  # unlabelled listing
        {"bedrooms": 1, "bathrooms": 4},  # boundary of bathrooms <= bedrooms + 3
    ],
)
def test_defaults_admit_real_markets(contract: DataContract, changes: dict[str, Any]) -> None:
    assert failed_rules(contract, **changes) == set()


@pytest.mark.parametrize(
    ("changes", "rules"),
    [
        ({"area": 50_000.0}, {"area_range"}),
        ({"area": 3.0, "bedrooms": 0, "bathrooms": 1}, {"area_range"}),
        ({"bedrooms": 80, "area": 1000.0}, {"bedrooms_range"}),
        ({"bathrooms": 6, "bedrooms": 2}, {"bathrooms_vs_bedrooms"}),
        ({"age": 5000.0}, {"age_range"}),
        ({"garage": 500}, {"garage_range"}),
        ({"price": 10.0}, {"price_range"}),
        ({"area": 20.0, "bedrooms": 6, "bathrooms": 2}, {"area_per_bedroom"}),
        (
            {"bathrooms": 60, "price": 5.0},
            {"bathrooms_range", "bathrooms_vs_bedrooms", "price_range"},
        ),
    ],
)
def test_out_of_contract_values_are_rejected_with_every_rule(
    contract: DataContract, changes: dict[str, Any], rules: set[str]
) -> None:
    assert failed_rules(contract, **changes) == rules


def test_violation_says_what_failed(contract: DataContract) -> None:
    (violation,) = contract.evaluate({**BASE, "bathrooms": 9, "bedrooms": 2})
    assert violation.rule == "bathrooms_vs_bedrooms"
    assert violation.field == "bathrooms"
    assert "bathrooms=9 must be <= bedrooms + 3 (= 5)" in violation.message


def test_rule_kinds() -> None:
    contract = DataContract.model_validate(
        {
            "version": "x",
            "rules": [
                {"name": "need_price", "kind": "required", "fields": ["price"]},
                {
                    "name": "known",
                    "kind": "allowed",
                    "field": "neighbourhood",
                    "values": ["centro"],
                    "case_sensitive": False,
                },
                {"name": "small", "kind": "range", "field": "area", "max": 100},
                {
                    "name": "ratio",
                    "kind": "compare",
                    "left": "area",
                    "op": ">",
                    "right": "bedrooms",
                    "factor": 30,
                },
                {"name": "off", "kind": "range", "field": "age", "max": 0, "enabled": False},
            ],
        }
    )
    assert failed_rules(contract) == {"small"}
    assert failed_rules(contract, area=90.0, neighbourhood="Norte", price=None) == {
        "need_price",
        "known",
        "ratio",
    }


@pytest.mark.parametrize(
    "rules",
    [
        [{"name": "r", "kind": "range", "field": "nope", "min": 1}],
        [{"name": "r", "kind": "range", "field": "area"}],
        [{"name": "r", "kind": "range", "field": "area", "min": 5, "max": 1}],
        [{"name": "r", "kind": "compare", "left": "area", "op": "=~", "right": "age"}],
        [{"name": "r", "kind": "magic", "field": "area"}],
        [
            {"name": "r", "kind": "range", "field": "area", "min": 1},
            {"name": "r", "kind": "range", "field": "age", "min": 1},
        ],
    ],
)
def test_invalid_contracts_are_refused(rules: list[dict[str, Any]], tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump({"version": "1", "rules": rules}))
    with pytest.raises(DataContractError):
        load_data_contract(path)


def test_contract_path_is_overridable(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('version: "custom"\nrules: []\n')
    assert load_data_contract(path).version == "custom"
    with pytest.raises(DataContractError):
        load_data_contract(tmp_path / "missing.yaml")


def ingested(**features: Any) -> IngestedListing:
    price = features.pop("price", 450_000.0)
    now = utcnow()
    f = {k: v for k, v in BASE.items() if k not in ("price", "source")} | features
    return IngestedListing(
        listing_id="lst-1",
        source="unit",
        ingested_at=now,
        features=ListingFeatures(**f),
        price=price,
        content_hash="h",
    )


async def test_subscriber_routes_validated_rejected_and_dead_letters(
    contract: DataContract,
) -> None:
    settings = ValidatorSettings(validator_exactly_once=False)
    runtime = ConsumerRuntime.create(settings=settings, client_id="validator")
    broker, metrics = runtime.broker, runtime.metrics
    sink = runtime.output_sink(
        source=LISTINGS_INGESTED, group_id="g", exactly_once=settings.validator_exactly_once
    )
    handler = ValidatorHandler(
        contract=contract,
        sink=sink,
        metrics=ValidatorMetrics(metrics=metrics, contract=contract),
    )
    register_subscribers(runtime, settings=settings, handler=handler, sink=sink)
    got: dict[str, list[bytes]] = {"v": [], "r": [], "d": []}

    @broker.subscriber(LISTINGS_VALIDATED.name)
    async def v(msg: KafkaMessage) -> None:
        got["v"].append(msg.body)

    @broker.subscriber(LISTINGS_REJECTED.name)
    async def r(msg: KafkaMessage) -> None:
        got["r"].append(msg.body)

    @broker.subscriber(dlq_for(LISTINGS_INGESTED).name)
    async def d(msg: KafkaMessage) -> None:
        got["d"].append(msg.body)

    good = ingested(age=130.0)
    bad = ingested(bathrooms=9, bedrooms=1, price=1.0)
    async with TestKafkaBroker(broker) as tb:
        await tb.publish(good.model_dump_json().encode(), LISTINGS_INGESTED.name)
        await tb.publish(bad.model_dump_json().encode(), LISTINGS_INGESTED.name)
        await tb.publish(b'{"listing_id": 1}', LISTINGS_INGESTED.name)

    (validated,) = [ValidatedListing.model_validate_json(b) for b in got["v"]]
    assert validated.listing_id == good.listing_id
    assert validated.trace_id == good.trace_id
    assert validated.features == good.features
    assert validated.contract_version == contract.version
    assert validated.event_id != good.event_id
    (rejected,) = [RejectedListing.model_validate_json(b) for b in got["r"]]
    assert {v.rule for v in rejected.violations} == {"bathrooms_vs_bedrooms", "price_range"}
    (dead,) = [DeadLetter.model_validate_json(b) for b in got["d"]]
    assert dead.original == b'{"listing_id": 1}'
    assert dead.error_type == "InvalidIngestedListingError"

    text = generate_latest(metrics.registry).decode()
    for line in (
        'valora_validator_rule_failures_total{rule="price_range",service="validator"} 1.0',
        'valora_validator_outcomes_total{outcome="validated",service="validator"} 1.0',
        'valora_validator_outcomes_total{outcome="dead_lettered",service="validator"} 1.0',
        'valora_consumer_dead_letters_total{error_class="permanent",'
        'error_type="InvalidIngestedListingError",service="validator",'
        'topic="listings.ingested.v1"} 1.0',
    ):
        assert line in text


async def test_output_event_ids_are_deterministic(contract: DataContract) -> None:
    class Sink:
        def __init__(self) -> None:
            self.values: list[bytes] = []

        async def write(self, *, outputs: Any, failed: Any, offsets: Any) -> None:
            self.values += [o.value for o in outputs]

    sink = Sink()
    handler = ValidatorHandler(
        contract=contract,
        sink=sink,
        metrics=ValidatorMetrics(metrics=ServiceMetrics("validator"), contract=contract),
    )
    record = InRecord(
        value=ingested().model_dump_json().encode(),
        key=b"lst-1",
        topic=LISTINGS_INGESTED.name,
        partition=0,
        offset=0,
    )
    await handler.handle_batch([record])
    await handler.handle_batch([record])
    first, second = (ValidatedListing.model_validate_json(v) for v in sink.values)
    assert first.event_id == second.event_id
