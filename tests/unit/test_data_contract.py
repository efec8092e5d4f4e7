"""The data contract as a library: the validator and the gateway judge a house by one file."""

from __future__ import annotations

import math

import pytest
from valora_contracts import ListingFeatures
from valora_contracts.data_contract import (
    default_contract_path,
    feature_values,
    load_data_contract,
    raw_feature_values,
)

pytestmark = pytest.mark.unit

HOUSE = {"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1, "bairro": "Sul"}


def test_the_packaged_contract_ships_with_the_contracts_package() -> None:
    assert default_contract_path().name == "data_contract.yaml"
    assert default_contract_path().parent.name == "valora_contracts"
    assert load_data_contract().version


def test_a_house_is_judged_without_price_or_source_rules() -> None:
    contract = load_data_contract()
    house = ListingFeatures.model_validate(HOUSE)
    assert contract.evaluate(feature_values(house)) == []
    big = house.model_copy(update={"area": 50_000.0})
    assert [v.rule for v in contract.evaluate(feature_values(big))] == ["area_range"]


@pytest.mark.parametrize("area", [1e308, math.inf, 20_000.5, 7.0])
def test_a_raw_body_refused_by_the_type_is_named_by_the_contract_rule(area: float) -> None:
    """``"area": 1e308`` breaks the type's sanity bound first; the rule still names it."""
    values = raw_feature_values({**HOUSE, "area": area})
    assert values["bedrooms"] == 3
    assert values["neighbourhood"] == "Sul"
    violations = load_data_contract().evaluate(values)
    assert "area_range" in {v.rule for v in violations}
    assert all(v.field == "area" for v in violations if v.rule == "area_range")


def test_raw_values_keep_only_feature_numbers_and_text() -> None:
    values = raw_feature_values({"area": True, "quartos": [1], "preco": 5, "x": 1, "idade": "7"})
    assert values == {"age": "7"}
    assert [v.rule for v in load_data_contract().evaluate({"age": "7"})] == [
        "required_features",
        "required_features",
        "required_features",
        "required_features",
        "required_features",
        "age_range",
    ]
