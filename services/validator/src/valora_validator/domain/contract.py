"""The declarative data contract: pydantic models of the YAML file and a tiny rule engine.

Rules are data, not code: ``required``, ``range``, ``allowed`` and expression-free ``compare``
(``left <op> right * factor + offset``). :meth:`DataContract.evaluate` returns every violation.
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
from valora_contracts import IngestedListing, RuleViolation

from valora_validator.errors import ContractLoadError

__all__ = [
    "FIELDS",
    "AllowedRule",
    "CompareRule",
    "DataContract",
    "RangeRule",
    "RequiredRule",
    "Rule",
    "default_contract_path",
    "listing_values",
    "load_contract",
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
    f = listing.features
    return {
        "area": f.area,
        "bedrooms": f.bedrooms,
        "bathrooms": f.bathrooms,
        "age": f.age,
        "garage": f.garage,
        "neighbourhood": f.neighbourhood,
        "price": listing.price,
        "source": listing.source,
    }


def default_contract_path() -> Path:
    """The contract shipped with the package."""
    return Path(str(resources.files("valora_validator").joinpath("contract.yaml")))


def load_contract(path: Path | None = None) -> DataContract:
    """Load and check a contract file (the packaged default when ``path`` is None)."""
    target = path or default_contract_path()
    try:
        document = yaml.safe_load(target.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractLoadError(f"cannot read data contract {target}: {exc}") from exc
    try:
        return DataContract.model_validate(document)
    except ValidationError as exc:
        raise ContractLoadError(f"invalid data contract {target}: {exc}") from exc
