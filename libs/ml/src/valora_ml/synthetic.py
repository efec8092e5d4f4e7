"""Synthetic listings: the older project's generator, seeded and vectorised, with drift knobs.

No I/O: :func:`generate_listings` returns a :class:`pandas.DataFrame` (English column names) and
:func:`iter_records` turns it into plain dicts with English or Portuguese names. Drift is
described by a :class:`DriftSpec` (from config, YAML/JSON or the CLI's ``--drift`` strings via
:meth:`DriftSpec.from_cli`), never hard-coded in callers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from valora_ml.errors import DriftSpecError

__all__ = [
    "BASE_NEIGHBOURHOOD_MIX",
    "NEIGHBOURHOOD_MULTIPLIERS",
    "NUMERIC_FEATURES",
    "PORTUGUESE_NAMES",
    "DriftSpec",
    "generate_listings",
    "iter_records",
]

NEIGHBOURHOOD_MULTIPLIERS: dict[str, float] = {
    "Centro": 1.2,
    "Zona Sul": 1.5,
    "Zona Norte": 0.9,
    "Zona Oeste": 1.0,
    "Zona Leste": 0.8,
}
"""Price multiplier per neighbourhood (older project's values)."""

BASE_NEIGHBOURHOOD_MIX: dict[str, float] = {
    "Centro": 0.15,
    "Zona Sul": 0.25,
    "Zona Norte": 0.20,
    "Zona Oeste": 0.20,
    "Zona Leste": 0.20,
}
"""Share of listings per neighbourhood without drift."""

NUMERIC_FEATURES: tuple[str, ...] = ("area", "bedrooms", "bathrooms", "age", "garage")
_INTEGER_FEATURES = frozenset({"bedrooms", "bathrooms", "garage"})

PORTUGUESE_NAMES: dict[str, str] = {
    "area": "area",
    "bedrooms": "quartos",
    "bathrooms": "banheiros",
    "age": "idade",
    "garage": "garagem",
    "neighbourhood": "bairro",
    "price": "preco",
}
"""English column name -> the older API's Portuguese name."""

_BEDROOM_P = (0.1, 0.2, 0.4, 0.2, 0.1)
_BATHROOM_P = (0.2, 0.5, 0.2, 0.1)
_PRICE_FLOOR = 50_000.0


class DriftSpec(BaseModel):
    """Knobs that move the generated distribution away from the base one.

    ``shift`` multiplies numeric features (applied before pricing, so prices follow: covariate
    drift); ``neighbourhood_mix`` replaces the share of the named neighbourhoods (the others keep
    their base weight, then all are renormalised); ``price_inflation`` multiplies prices after
    pricing (concept/label drift).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    shift: dict[str, float] = Field(
        default_factory=dict, description="Numeric feature -> multiplicative factor (> 0)."
    )
    neighbourhood_mix: dict[str, float] = Field(
        default_factory=dict, description="Neighbourhood -> relative weight (>= 0)."
    )
    price_inflation: float = Field(default=1.0, gt=0, description="Price multiplier.")

    @field_validator("shift")
    @classmethod
    def _check_shift(cls, value: dict[str, float]) -> dict[str, float]:
        for feature, factor in value.items():
            if feature not in NUMERIC_FEATURES:
                raise ValueError(f"cannot shift {feature!r}: one of {', '.join(NUMERIC_FEATURES)}")
            if not math.isfinite(factor) or factor <= 0:
                raise ValueError(f"shift factor of {feature!r} must be finite and > 0")
        return value

    @field_validator("neighbourhood_mix")
    @classmethod
    def _check_mix(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in NEIGHBOURHOOD_MULTIPLIERS:
                known = ", ".join(NEIGHBOURHOOD_MULTIPLIERS)
                raise ValueError(f"unknown neighbourhood {name!r}: one of {known}")
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of {name!r} must be finite and >= 0")
        return value

    @property
    def is_identity(self) -> bool:
        return not self.shift and not self.neighbourhood_mix and self.price_inflation == 1.0

    def mix(self) -> dict[str, float]:
        """Neighbourhood probabilities after drift (sum to 1)."""
        weights = {**BASE_NEIGHBOURHOOD_MIX, **self.neighbourhood_mix}
        total = sum(weights.values())
        if total <= 0:
            raise DriftSpecError("neighbourhood weights must not all be zero")
        return {name: w / total for name, w in weights.items()}

    def merge(self, other: DriftSpec) -> DriftSpec:
        """Combine two specs: factors multiply, mixes overlay (``other`` wins)."""
        shift = dict(self.shift)
        for feature, factor in other.shift.items():
            shift[feature] = shift.get(feature, 1.0) * factor
        return DriftSpec(
            shift=shift,
            neighbourhood_mix={**self.neighbourhood_mix, **other.neighbourhood_mix},
            price_inflation=self.price_inflation * other.price_inflation,
        )

    @classmethod
    def from_cli(cls, items: Sequence[str]) -> DriftSpec:
        """Parse ``--drift`` strings: ``shift:area=1.3``, ``mix:Centro=0.5,Zona Sul=0.1``,
        ``inflate=1.2`` (or ``inflate:1.2``). Several may be given; they are merged."""
        spec = cls()
        for item in items:
            spec = spec.merge(_parse_one(item))
        return spec


def _parse_pairs(text: str, what: str) -> dict[str, float]:
    pairs: dict[str, float] = {}
    for part in text.split(","):
        name, sep, number = part.partition("=")
        if not sep or not name.strip():
            raise DriftSpecError(f"{what}: expected NAME=NUMBER, got {part!r}")
        try:
            pairs[name.strip()] = float(number)
        except ValueError:
            raise DriftSpecError(f"{what}: {number!r} is not a number") from None
    return pairs


def _parse_one(item: str) -> DriftSpec:
    text = item.strip()
    kind, _, rest = text.partition(":")
    try:
        if kind == "shift":
            return DriftSpec(shift=_parse_pairs(rest, "shift"))
        if kind == "mix":
            return DriftSpec(neighbourhood_mix=_parse_pairs(rest, "mix"))
        if text.startswith("inflate"):
            number = text.removeprefix("inflate").lstrip("=:").strip()
            return DriftSpec(price_inflation=float(number))
    except DriftSpecError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise DriftSpecError(f"invalid drift {item!r}: {exc}") from exc
    raise DriftSpecError(
        f"invalid drift {item!r}: use shift:FEATURE=FACTOR, mix:NAME=WEIGHT,... or inflate=FACTOR"
    )


def generate_listings(
    n: int, *, seed: int | None = None, drift: DriftSpec | None = None
) -> pd.DataFrame:
    """``n`` synthetic listings (English columns, ``price`` included), reproducible by ``seed``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    drift = drift or DriftSpec()

    area = np.clip(rng.normal(120.0, 40.0, n), 30.0, 500.0)
    bedrooms = rng.choice(np.arange(1, 6), size=n, p=_BEDROOM_P)
    bathrooms = rng.choice(np.arange(1, 5), size=n, p=_BATHROOM_P)
    age = np.clip(rng.exponential(10.0, n), 0.0, 50.0)
    garage = (rng.random(n) < 0.7).astype(np.int64)
    mix = drift.mix()
    names = np.array(list(mix), dtype=object)
    neighbourhood = rng.choice(names, size=n, p=np.array(list(mix.values())))
    noise = rng.normal(0.0, 20_000.0, n)

    features: dict[str, np.ndarray[Any, Any]] = {
        "area": area,
        "bedrooms": bedrooms.astype(np.int64),
        "bathrooms": bathrooms.astype(np.int64),
        "age": age,
        "garage": garage,
    }
    for feature, factor in drift.shift.items():
        shifted = features[feature] * factor
        if feature in _INTEGER_FEATURES:
            shifted = np.rint(shifted).astype(np.int64)
        features[feature] = shifted

    multiplier = pd.Series(neighbourhood).map(NEIGHBOURHOOD_MULTIPLIERS).to_numpy(dtype=float)
    base = (
        2000.0 * features["area"]
        + 50_000.0 * features["bedrooms"]
        + 30_000.0 * features["bathrooms"]
        - 5000.0 * features["age"]
        + 25_000.0 * features["garage"]
    )
    price = np.maximum(base * multiplier + noise, _PRICE_FLOOR) * drift.price_inflation

    return pd.DataFrame(
        {
            **features,
            "neighbourhood": neighbourhood.astype(str),
            "price": price,
        }
    )


def iter_records(
    frame: pd.DataFrame,
    *,
    naming: Literal["en", "pt"] = "en",
    extra: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each row as a dict of plain Python values, English or Portuguese names.

    ``extra`` fields (e.g. ``{"source": "demo"}``) are added to every record.
    """
    rename = PORTUGUESE_NAMES if naming == "pt" else {}
    columns = [rename.get(str(c), str(c)) for c in frame.columns]
    extra_items = dict(extra or {})
    # ``tolist`` converts numpy scalars to Python int/float/str in one vectorised pass.
    values = [frame[c].tolist() for c in frame.columns]
    for row in zip(*values, strict=True):
        record = dict(zip(columns, row, strict=True))
        if extra_items:
            record.update(extra_items)
        yield record
