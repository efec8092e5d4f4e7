"""The gateway holds houses to the data contract (422 naming the rule) and finds comparable
sales; over fakes of its Protocols (no Kafka, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from test_gateway import SEED, FakeChampion, FakeClient, FakeJobs, FakeListings, _client
from valora_contracts import ListingFeatures
from valora_db.read_models.comparables import Comparable
from valora_db.read_models.predictions import StoredPrediction
from valora_gateway.domain.uploads import parse_upload
from valora_gateway.entrypoints.app import create_http_app
from valora_gateway.entrypoints.deps import Services
from valora_gateway.settings import GatewaySettings
from valora_observability import ServiceMetrics

pytestmark = pytest.mark.unit


@dataclass
class FakeComparables:
    calls: list[tuple[ListingFeatures, int, str | None]] = field(default_factory=list)

    async def nearest(
        self, house: ListingFeatures, *, n: int, exclude_listing_id: str | None = None
    ) -> list[Comparable]:
        self.calls.append((house, n, exclude_listing_id))
        return [
            Comparable(
                listing_id=f"c{i}",
                neighbourhood=house.neighbourhood,
                area=house.area + i,
                bedrooms=house.bedrooms,
                bathrooms=house.bathrooms,
                age=house.age,
                garage=house.garage,
                price=100_000.0 + i,
                price_kind="sale",
                priced_at=datetime(2025, 1, 1, tzinfo=UTC),
                same_neighbourhood=True,
                distance=0.1 * i,
            )
            for i in range(n)
        ]


class OnePrediction:
    async def get(self, prediction_id: str) -> StoredPrediction | None:
        if prediction_id != "p1":
            return None
        return StoredPrediction(
            prediction_id="p1", source="stream", input_id="i", listing_id="L-own",
            batch_job_id=None, correlation_id=None,
            features=ListingFeatures.model_validate(SEED).model_dump(mode="json"),
            price=1.0, lower_bound=1.0, upper_bound=1.0, interval_level=0.9, model_name="m",
            model_version="1", run_id="r", warnings=[], input_hash="h", trace_id="t",
            latency_ms=1.0, created_at=datetime.now(UTC),
        )  # fmt: skip


def _app(client: FakeClient, comparables: FakeComparables | None) -> Any:
    async def ok() -> bool:
        return True

    services = Services(
        client=client, jobs=FakeJobs(), predictions=OnePrediction(), champion=FakeChampion(),
        listings=FakeListings(), runner=None, ready_checks={"kafka": ok}, comparables=comparables,
    )  # fmt: skip
    return create_http_app(
        services=services, settings=GatewaySettings(), metrics=ServiceMetrics("gateway")
    )


@pytest.mark.parametrize("area", [1e308, 1e7, 50_000.0, 5.0])
async def test_a_house_breaking_the_contract_is_422_naming_the_rule(area: float) -> None:
    """1e308 and 1e7 are refused by the type's sanity bound first, 50,000 m² and 5 m² pass the
    type: all four are named by the validator's rule, and no model sees them."""
    client = FakeClient()
    async with _client(_app(client, None)) as http:
        r = await http.post("/predict", json={**SEED, "area": area})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    assert body["violations"][0]["rule"] == "area_range"  # (5 m²: also area_per_bedroom)
    assert body["violations"][0]["field"] == "area"
    assert "area_range" in body["message"]
    assert client.one_calls == []


async def test_a_batch_names_the_house_and_the_rule() -> None:
    client = FakeClient()
    old = {**SEED, "idade": 1500.0}  # inside the type's bound, beyond the contract's
    async with _client(_app(client, None)) as http:
        r = await http.post("/predict/batch", json={"houses": [SEED, old, SEED]})
        typed = await http.post("/predict/batch", json={"houses": [SEED, {**SEED, "area": 1e308}]})
    assert r.status_code == 422
    assert [(v["rule"], v["field"]) for v in r.json()["violations"]] == [
        ("age_range", "houses[1].age")
    ]
    assert typed.status_code == 422
    assert [v["field"] for v in typed.json()["violations"]] == ["houses[1].area"]
    assert client.many_calls == []


async def test_a_missing_field_keeps_the_types_own_error() -> None:
    async with _client(_app(FakeClient(), None)) as http:
        r = await http.post("/predict", json={k: v for k, v in SEED.items() if k != "area"})
    assert r.status_code == 422
    assert r.json().get("violations") is None
    assert r.json()["fields"][0]["field"] == "area"


async def test_comparables_on_predict_only_when_asked() -> None:
    reader = FakeComparables()
    async with _client(_app(FakeClient(), reader)) as http:
        plain = await http.post("/predict", json=SEED)
        asked = await http.post("/predict?comparables=3", json=SEED)
        too_many = await http.post("/predict?comparables=51", json=SEED)
    assert "comparables" not in plain.json()
    found = asked.json()["comparables"]
    assert [c["listing_id"] for c in found] == ["c0", "c1", "c2"]
    assert found[0]["price_kind"] == "sale"
    assert found[0]["priced_at"].startswith("2025-01-01")
    assert reader.calls[0][1:] == (3, None)
    assert too_many.status_code == 422


async def test_comparables_of_a_stored_prediction_leave_out_its_own_listing() -> None:
    reader = FakeComparables()
    async with _client(_app(FakeClient(), reader)) as http:
        r = await http.get("/predictions/p1/comparables?n=2")
        missing = await http.get("/predictions/nope/comparables")
    assert r.status_code == 200
    assert r.json()["count"] == 2
    house, n, excluded = reader.calls[0]
    assert (house, n, excluded) == (ListingFeatures.model_validate(SEED), 2, "L-own")
    assert missing.status_code == 404
    async with _client(_app(FakeClient(), None)) as http:
        unavailable = await http.get("/predictions/p1/comparables")
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "comparables_unavailable"


def test_an_uploaded_row_breaking_the_contract_is_invalid_naming_the_rule() -> None:
    from valora_contracts.data_contract import load_data_contract
    from valora_gateway.domain.house_check import HouseCheck

    data = b"area,quartos,banheiros,idade,garagem,bairro\n80,2,1,3,1,Centro\n50000,2,1,3,1,Centro\n"
    rows = parse_upload(
        data, fmt="csv", job_id="j", max_rows=10, check=HouseCheck(load_data_contract())
    )
    assert rows[0].error is None
    assert rows[1].features is None
    assert rows[1].error is not None
    assert rows[1].error.startswith("data contract: area_range")


async def test_http_errors_are_documented_with_their_violations() -> None:
    async with _client(_app(FakeClient(), None)) as http:
        schema = (await http.get("/openapi.json")).json()
    error = schema["components"]["schemas"]["ErrorResponse"]["properties"]
    assert "violations" in error
    paths = schema["paths"]
    assert "/predictions/{prediction_id}/comparables" in paths
    assert any(p["name"] == "comparables" for p in paths["/predict"]["post"]["parameters"])
