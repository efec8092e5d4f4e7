"""A house to value, held to the platform's data contract: the validator's rules, not a copy.

``POST /predict`` must not value a house the platform would reject as a listing: such a house
gets 422 naming each broken rule (a model would extrapolate, or, for an absurd area, fail). The
rules come from :mod:`valora_contracts.data_contract`, the file the validator applies.

Two ways in: a body that is a valid :class:`ListingFeatures` is judged by every rule that
applies to a house (:meth:`HouseCheck.violations`); a body the type already refused (e.g.
``"area": 1e308`` is beyond its physical-sanity bound) is judged on the numbers and text it
holds (:meth:`HouseCheck.body_violations`), so the answer still names the contract rule. Rules
on presence are left to the type there (a missing field is named by the type's own error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from valora_contracts import ListingFeatures, RuleViolation
from valora_contracts.data_contract import DataContract, feature_values, raw_feature_values

__all__ = ["HouseCheck"]

_TEXT_FIELDS = frozenset({"neighbourhood"})


def _at(violations: Sequence[RuleViolation], prefix: str) -> list[RuleViolation]:
    """``violations`` of the house at ``prefix`` (e.g. ``houses[3]``) of a batch."""
    if not prefix:
        return list(violations)
    return [
        v.model_copy(
            update={
                "field": f"{prefix}.{v.field}" if v.field else prefix,
                "message": f"{prefix}: {v.message}"[:2000],
            }
        )
        for v in violations
    ]


class HouseCheck:
    """The data contract's rules applied to houses sent to be valued."""

    def __init__(self, contract: DataContract) -> None:
        self._contract = contract
        self._presence = frozenset(r.name for r in contract.active_rules if r.kind == "required")

    @property
    def version(self) -> str:
        return self._contract.version

    def violations(self, house: ListingFeatures, *, at: str = "") -> list[RuleViolation]:
        """Every rule ``house`` breaks (rules on price or source do not apply to it)."""
        return _at(self._contract.evaluate(feature_values(house)), at)

    def batch_violations(self, houses: Sequence[ListingFeatures]) -> list[RuleViolation]:
        """Every rule any house of a batch breaks, each named by the house's position."""
        out: list[RuleViolation] = []
        for i, house in enumerate(houses):
            out.extend(self.violations(house, at=f"houses[{i}]"))
        return out

    def body_violations(self, body: Any, *, batch: bool) -> list[RuleViolation]:
        """The rules broken by a request body that failed validation (``batch``: the
        ``{"houses": [...]}`` shape); see the module docstring."""
        if batch:
            houses = body.get("houses") if isinstance(body, dict) else None
            if not isinstance(houses, list):
                return []
            out: list[RuleViolation] = []
            for i, house in enumerate(houses[:10_000]):
                out.extend(_at(self._raw(house), f"houses[{i}]"))
            return out
        return self._raw(body)

    def _raw(self, body: Any) -> list[RuleViolation]:
        if not isinstance(body, dict):
            return []
        values = {
            name: value
            for name, value in raw_feature_values(body).items()
            if (name in _TEXT_FIELDS) == isinstance(value, str)  # numbers where numbers go
        }
        return [v for v in self._contract.evaluate(values) if v.rule not in self._presence]
