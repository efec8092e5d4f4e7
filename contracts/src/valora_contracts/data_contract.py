"""The declarative data contract: pydantic models of the YAML file and a tiny rule engine.

Rules are data, not code: ``required``, ``range``, ``allowed`` and expression-free ``compare``
(``left <op> right * factor + offset``). :meth:`DataContract.evaluate` returns every violation.

One contract, not a copy: the validator rejects listings with it, and the gateway answers 422
naming the rule for a house it would reject, so ``POST /predict`` never values a house the
platform would not accept as a listing. The packaged ``data_contract.yaml`` is the default;
a deployment points both at another file with ``VALORA_DATA_CONTRACT_PATH``. Nothing is read at
import time: :func:`load_data_contract` reads the file when called.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from valora_contracts.errors import DataContractError
from valora_contracts.listing import (
    FEATURE_ALIASES,
    IngestedListing,
    ListingFeatures,
    RuleViolation,
)

__all__ = [
    "FIELDS",
    "AllowedRule",
    "CompareRule",
    "DataContract",
    "RangeRule",
    "RequiredRule",
    "Rule",
    "default_contract_path",
    "feature_values",
    "listing_values",
    "load_data_contract",
    "raw_feature_values",
]

FIELDS: frozenset[str] = frozenset(
    {"area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood", "price", "source"}
)
"""Fields a rule may name (features, the price label and the source)."""

Scalar = float | int | str
Values = Mapping[str, Scalar | None]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _known(name: str) -> str:
    if name not in FIELDS:
        raise ValueError(f"unknown field {name!r}: one of {', '.join(sorted(FIELDS))}")
    return name


class _RuleBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Unique rule name (metrics label, violations).")
    message: str | None = Field(default=None, description="Reason shown when the rule fails.")
    enabled: bool = Field(default=True, description="Disabled rules are not evaluated.")

    def _violation(self, field: str | None, detail: str) -> RuleViolation:
        text = f"{self.message}: {detail}" if self.message else detail
        return RuleViolation(rule=self.name, field=field, message=text)


class RequiredRule(_RuleBase):
    kind: Literal["required"]
    fields: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RequiredRule:
        for name in self.fields:
            _known(name)
        return self

    def check(self, values: Values) -> list[RuleViolation]:
        return [
            self._violation(f, f"{f} is required") for f in self.fields if values.get(f) is None
        ]


class RangeRule(_RuleBase):
    kind: Literal["range"]
    field: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> RangeRule:
        _known(self.field)
        if self.min is None and self.max is None:
            raise ValueError(f"range rule {self.name!r} needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range rule {self.name!r}: min > max")
        return self

    def check(self, values: Values) -> list[RuleViolation]:
        value = values.get(self.field)
        if value is None:
            return []
        if isinstance(value, str):
            return [self._fail(f"{self.field} must be a number, got {value!r}")]
        if not math.isfinite(value):
            return [self._fail(f"{self.field}={value} is not a finite number")]
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            return [self._fail(f"{self.field}={value:g} is outside [{lo}, {hi}]")]
        return []

    def _fail(self, detail: str) -> RuleViolation:
        return self._violation(self.field, detail)


class AllowedRule(_RuleBase):
    kind: Literal["allowed"]
    field: str
    values: list[Scalar] = Field(min_length=1)
    case_sensitive: bool = True

    @model_validator(mode="after")
    def _check(self) -> AllowedRule:
        _known(self.field)
        return self

    def _allowed(self) -> frozenset[Scalar]:
        if self.case_sensitive:
            return frozenset(self.values)
        return frozenset(v.casefold() if isinstance(v, str) else v for v in self.values)

    def check(self, values: Values) -> list[RuleViolation]:
        value = values.get(self.field)
        if value is None:
            return []
        probe = value.casefold() if isinstance(value, str) and not self.case_sensitive else value
        if probe in self._allowed():
            return []
        return [self._violation(self.field, f"{self.field}={value!r} is not an allowed value")]


class CompareRule(_RuleBase):
    kind: Literal["compare"]
    left: str
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    right: str
    factor: float = 1.0
    offset: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> CompareRule:
        _known(self.left)
        _known(self.right)
        if not (math.isfinite(self.factor) and math.isfinite(self.offset)):
            raise ValueError(f"compare rule {self.name!r}: factor and offset must be finite")
        return self

    def check(self, values: Values) -> list[RuleViolation]:
        left, right = values.get(self.left), values.get(self.right)
        if left is None or right is None:
            return []
        if isinstance(left, str) or isinstance(right, str):
            if self.factor != 1.0 or self.offset != 0.0 or self.op not in ("==", "!="):
                return [self._fail(f"{self.left} and {self.right} are not comparable numbers")]
            bound: Scalar = right
        else:
            bound = right * self.factor + self.offset
        if _OPS[self.op](left, bound):
            return []
        rhs = self.right
        if self.factor != 1.0:
            rhs = f"{self.factor:g} * {rhs}"
        if self.offset:
            rhs = f"{rhs} {'+' if self.offset > 0 else '-'} {abs(self.offset):g}"
        shown = f"{bound:g}" if isinstance(bound, float | int) else repr(bound)
        return [self._fail(f"{self.left}={left} must be {self.op} {rhs} (= {shown})")]

    def _fail(self, detail: str) -> RuleViolation:
        return self._violation(self.left, detail)


Rule = Annotated[RequiredRule | RangeRule | AllowedRule | CompareRule, Field(discriminator="kind")]


class DataContract(BaseModel):
    """A versioned list of rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, description="Contract version stamped on every outcome.")
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> DataContract:
        names = [r.name for r in self.rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"duplicate rule names: {', '.join(duplicated)}")
        return self

    @property
    def active_rules(self) -> list[RequiredRule | RangeRule | AllowedRule | CompareRule]:
        return [r for r in self.rules if r.enabled]

    def evaluate(self, values: Values) -> list[RuleViolation]:
        """Every violation of ``values`` (empty when the listing passes)."""
        violations: list[RuleViolation] = []
        for rule in self.active_rules:
            violations.extend(rule.check(values))
        return violations


def listing_values(listing: IngestedListing) -> dict[str, Scalar | None]:
    """The flat field -> value view of a listing that rules look at."""
    return feature_values(listing.features, price=listing.price, source=listing.source)


def feature_values(
    features: ListingFeatures, *, price: float | None = None, source: str | None = None
) -> dict[str, Scalar | None]:
    """The rules' view of a house (no price or source: rules on them are skipped)."""
    return {
        "area": features.area,
        "bedrooms": features.bedrooms,
        "bathrooms": features.bathrooms,
        "age": features.age,
        "garage": features.garage,
        "neighbourhood": features.neighbourhood,
        "price": price,
        "source": source,
    }


def raw_feature_values(body: Mapping[str, Any]) -> dict[str, Scalar | None]:
    """The rules' view of a request body that failed :class:`ListingFeatures` (English or
    Portuguese names): numbers and text as given, anything else absent. So ``"area": 1e308``
    is judged by ``area_range`` even though the type's sanity bound refused it first."""
    out: dict[str, Scalar | None] = {}
    for key, value in body.items():
        name = FEATURE_ALIASES.get(key, key) if isinstance(key, str) else None
        if name not in FIELDS or name in ("price", "source"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        out[name] = value
    return out


def default_contract_path() -> Path:
    """The contract shipped with the package."""
    return Path(str(resources.files("valora_contracts").joinpath("data_contract.yaml")))


def load_data_contract(path: Path | None = None) -> DataContract:
    """Load and check a contract file (the packaged default when ``path`` is None)."""
    target = path or default_contract_path()
    try:
        document = yaml.safe_load(target.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataContractError(f"cannot read data contract {target}: {exc}") from exc
    try:
        return DataContract.model_validate(document)
    except ValidationError as exc:
        raise DataContractError(f"invalid data contract {target}: {exc}") from exc
