"""The synthetic listings generator: distributions, reproducibility, drift knobs, naming."""

from __future__ import annotations

import numpy as np
import pytest
from valora_contracts import ListingFeatures
from valora_ml import DriftSpecError
from valora_ml.synthetic import (
    BASE_NEIGHBOURHOOD_MIX,
    DriftSpec,
    generate_listings,
    iter_records,
)

pytestmark = pytest.mark.unit

N = 50_000


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return generate_listings(N, seed=42)


def test_reproducible_with_a_seed() -> None:
    a, b = generate_listings(500, seed=7), generate_listings(500, seed=7)
    assert a.equals(b)
    assert not a.equals(generate_listings(500, seed=8))


def test_distributions(sample) -> None:  # type: ignore[no-untyped-def]
    assert sample["area"].between(30, 500).all()
    assert abs(sample["area"].mean() - 120) < 1.5
    assert abs(sample["area"].std() - 40) < 1.5
    bedrooms = sample["bedrooms"].value_counts(normalize=True).sort_index()
    assert list(bedrooms.index) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(bedrooms.to_numpy(), [0.1, 0.2, 0.4, 0.2, 0.1], atol=0.01)
    bathrooms = sample["bathrooms"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(bathrooms.to_numpy(), [0.2, 0.5, 0.2, 0.1], atol=0.01)
    assert sample["age"].between(0, 50).all()
    assert abs(sample["age"].mean() - 10) < 0.4  # clipping at 50 barely moves the mean
    assert abs(sample["garage"].mean() - 0.7) < 0.01
    assert set(sample["garage"].unique()) == {0, 1}
    mix = sample["neighbourhood"].value_counts(normalize=True)
    for name, p in BASE_NEIGHBOURHOOD_MIX.items():
        assert abs(mix[name] - p) < 0.01
    assert (sample["price"] >= 50_000).all()


def test_price_formula(sample) -> None:  # type: ignore[no-untyped-def]
    mult = sample["neighbourhood"].map(
        {"Centro": 1.2, "Zona Sul": 1.5, "Zona Norte": 0.9, "Zona Oeste": 1.0, "Zona Leste": 0.8}
    )
    base = (
        2000 * sample["area"]
        + 50_000 * sample["bedrooms"]
        + 30_000 * sample["bathrooms"]
        - 5000 * sample["age"]
        + 25_000 * sample["garage"]
    ) * mult
    residual = (sample["price"] - base)[sample["price"] > 60_000]
    assert abs(residual.mean()) < 500
    assert abs(residual.std() - 20_000) < 500


def test_drift_knobs(sample) -> None:  # type: ignore[no-untyped-def]
    drift = DriftSpec.from_cli(["shift:area=1.3", "mix:Centro=0.6", "inflate=1.2"])
    drifted = generate_listings(N, seed=42, drift=drift)
    assert drifted["area"].mean() == pytest.approx(sample["area"].mean() * 1.3, rel=1e-9)
    centro = (drifted["neighbourhood"] == "Centro").mean()
    assert abs(centro - 0.6 / (0.6 + 0.85)) < 0.01
    assert drifted["price"].mean() > sample["price"].mean() * 1.3
    rooms = generate_listings(1000, seed=1, drift=DriftSpec(shift={"bedrooms": 2.0}))
    assert rooms["bedrooms"].dtype.kind == "i"
    assert rooms["bedrooms"].min() >= 2


def test_drift_spec_is_config_driven() -> None:
    spec = DriftSpec.model_validate({"shift": {"age": 2}, "price_inflation": 1.1})
    assert spec.merge(DriftSpec(shift={"age": 1.5})).shift == {"age": 3.0}
    assert DriftSpec().is_identity
    assert DriftSpec.from_cli(["inflate:1.5"]).price_inflation == 1.5


@pytest.mark.parametrize(
    "item",
    [
        "shift:colour=2",
        "shift:area=-1",
        "mix:Atlantis=1",
        "inflate=0",
        "teleport:x=1",
        "shift:area",
        "mix:Centro=abc",
        "mix:Centro=0,Zona Sul=0,Zona Norte=0,Zona Oeste=0,Zona Leste=0",
    ],
)
def test_bad_drift_strings(item: str) -> None:
    with pytest.raises(DriftSpecError):
        DriftSpec.from_cli([item]).mix()


def test_iter_records_both_namings() -> None:
    frame = generate_listings(3, seed=1)
    en = list(iter_records(frame, extra={"source": "s"}))
    pt = list(iter_records(frame, naming="pt"))
    assert set(en[0]) == {
        "area",
        "bedrooms",
        "bathrooms",
        "age",
        "garage",
        "neighbourhood",
        "price",
        "source",
    }
    assert set(pt[0]) == {"area", "quartos", "banheiros", "idade", "garagem", "bairro", "preco"}
    assert type(en[0]["bedrooms"]) is int
    assert type(en[0]["area"]) is float
    pt_features = {k: v for k, v in pt[0].items() if k != "preco"}
    en_features = {k: v for k, v in en[0].items() if k not in ("price", "source")}
    same = ListingFeatures.model_validate(en_features)
    assert ListingFeatures.model_validate(pt_features) == same
