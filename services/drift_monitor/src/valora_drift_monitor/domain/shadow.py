"""Judging a shadow challenger against the champion on realised prices (pure).

Each realised sale that both models valued is a pair of absolute errors. The decision rests on
the Wilcoxon signed-rank test of the differences ``|champion error| - |challenger error|``,
taken only at planned looks: after ``min_sales``, ``2 x min_sales``, ... ``looks x min_sales``
paired sales, each at ``alpha / looks`` (Bonferroni over the planned looks), so looking at
every look never makes a wrong decision likelier than ``alpha`` however the evidence arrives.
At a look:

* significant, the challenger's errors smaller (the positive differences outweigh the negative
  ones in signed rank, the direction the test measures) -> ``promote``;
* significant, the challenger's errors larger -> ``retire``;
* not significant at the last look -> ``retire`` (no difference found: keep the champion);
* otherwise wait for the next look. Past ``timeout_s`` since the challenger started -> ``retire``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata, wilcoxon

__all__ = [
    "OpenEvaluation",
    "PairRow",
    "PairedSales",
    "ShadowFigures",
    "ShadowJudgement",
    "ShadowPolicy",
    "figures_of",
    "judge",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class PairRow:
    """One listing valued by both models (from ``predictions.shadow.v1``)."""

    model_name: str
    challenger_version: str
    listing_id: str
    champion_version: str
    champion_price: float
    champion_lower: float
    champion_upper: float
    challenger_price: float
    challenger_lower: float
    challenger_upper: float
    predicted_at: datetime


@dataclass(frozen=True)
class OpenEvaluation:
    """A challenger not decided yet."""

    model_name: str
    challenger_version: str
    champion_version: str
    started_at: datetime
    looks_taken: int
    paired_sales: int = 0
    """Paired sales when its figures were last recorded."""


@dataclass(frozen=True)
class ShadowPolicy:
    """When a challenger is decided (from the drift monitor's settings)."""

    min_sales: int = 100
    looks: int = 5
    alpha: float = 0.05
    timeout_s: float = 14 * 86_400.0

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.looks


@dataclass(frozen=True)
class PairedSales:
    """Realised prices and both models' answers for the same sales, oldest sale first."""

    actual: FloatArray
    champion: FloatArray
    champion_lower: FloatArray
    champion_upper: FloatArray
    challenger: FloatArray
    challenger_lower: FloatArray
    challenger_upper: FloatArray

    def __len__(self) -> int:
        return len(self.actual)

    def head(self, n: int) -> PairedSales:
        return PairedSales(*(getattr(self, f)[:n] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class ShadowFigures:
    """The paired comparison on ``paired_sales`` sales (the figures of the latest look)."""

    paired_sales: int
    look: int
    champion_mae: float
    challenger_mae: float
    champion_mape: float
    challenger_mape: float
    champion_coverage: float
    challenger_coverage: float
    statistic: float | None
    p_value: float | None
    challenger_ahead: bool
    """The signed ranks favour the challenger (its errors smaller more, and by more, often)."""

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ShadowJudgement:
    figures: ShadowFigures | None
    """The figures of the look just taken (``None``: no new look)."""
    decision: Literal["promote", "retire"] | None
    explanation: str


def figures_of(pairs: PairedSales, look: int) -> ShadowFigures:
    """The paired comparison on ``pairs`` (``look``: the last planned look taken)."""
    y = pairs.actual
    champion_error = np.abs(pairs.champion - y)
    challenger_error = np.abs(pairs.challenger - y)
    difference = champion_error - challenger_error
    statistic: float | None = None
    p_value: float | None = None
    nonzero = difference[difference != 0]
    ranks = rankdata(np.abs(nonzero))
    ahead = bool(ranks[nonzero > 0].sum() > ranks[nonzero < 0].sum())
    if len(nonzero):
        result = wilcoxon(difference, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    elif len(y):
        p_value = 1.0  # identical errors on every sale: no evidence either way

    def inside(lower: FloatArray, upper: FloatArray) -> float:
        return float(np.mean((y >= lower) & (y <= upper))) if len(y) else math.nan

    return ShadowFigures(
        paired_sales=len(y),
        look=look,
        champion_mae=float(np.mean(champion_error)) if len(y) else math.nan,
        challenger_mae=float(np.mean(challenger_error)) if len(y) else math.nan,
        champion_mape=float(np.mean(champion_error / y)) if len(y) else math.nan,
        challenger_mape=float(np.mean(challenger_error / y)) if len(y) else math.nan,
        champion_coverage=inside(pairs.champion_lower, pairs.champion_upper),
        challenger_coverage=inside(pairs.challenger_lower, pairs.challenger_upper),
        statistic=statistic,
        p_value=p_value,
        challenger_ahead=ahead,
    )


def judge(
    pairs: PairedSales, *, policy: ShadowPolicy, looks_taken: int, elapsed_s: float
) -> ShadowJudgement:
    """The decision at the next planned look that ``pairs`` reached (``looks_taken`` looks were
    already taken on earlier evidence), or a timeout."""
    look = min(len(pairs) // policy.min_sales, policy.looks)
    if look <= looks_taken:
        if elapsed_s > policy.timeout_s:
            figures = figures_of(pairs, looks_taken)
            return ShadowJudgement(
                figures,
                "retire",
                f"timed out after {elapsed_s / 86_400:.1f} days with {len(pairs)} paired sales "
                f"(a decision needs {policy.min_sales} for its first look)",
            )
        return ShadowJudgement(None, None, "waiting for the next look")
    figures = figures_of(pairs.head(look * policy.min_sales), look)
    alpha = policy.alpha_per_look
    p_value = figures.p_value if figures.p_value is not None else 1.0
    summary = (
        f"{figures.paired_sales} paired sales (look {look} of {policy.looks}): MAE "
        f"{figures.challenger_mae:,.0f} vs the champion's {figures.champion_mae:,.0f}, "
        f"Wilcoxon p = {p_value:.3g} against {alpha:.3g}"
    )
    if p_value < alpha and figures.challenger_ahead:
        return ShadowJudgement(figures, "promote", f"challenger better: {summary}")
    if p_value < alpha:
        return ShadowJudgement(figures, "retire", f"challenger worse: {summary}")
    if look >= policy.looks:
        return ShadowJudgement(figures, "retire", f"no significant difference: {summary}")
    return ShadowJudgement(figures, None, f"undecided: {summary}")
