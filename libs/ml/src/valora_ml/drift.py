"""Drift statistics against a :class:`~valora_ml.profile.ReferenceProfile` (pure, no I/O).

* **PSI** (population stability index) on the reference's own bins: quantile bins for numeric
  columns, categories for categorical ones. It is the *effect size*: it does not grow with the
  window, so a huge window does not make a trivial difference look important.
* **KS** for numeric columns, on the *binned* reference: the profile keeps the reference CDF at
  its cut points (no raw sample ships with a model), so the statistic is the largest CDF gap at
  those points — exactly the two-sample KS statistic of the discretised samples. It is a lower
  bound of the continuous statistic (conservative: fewer false alarms, a little less power) and
  has no approximation error, unlike a CDF interpolated between cuts, which a large window would
  flag as drift. The p-value is Smirnov's asymptotic one with the reference's row count as the
  second sample (the reference is itself an estimate), as ``scipy.stats.ks_2samp(method="asymp")``.
* **Chi-square** homogeneity test for categorical columns (reference counts vs window counts;
  categories unseen in the reference are their own column).
* A **multiple-testing correction** across the features of one window: Holm (family-wise error,
  the default: *any* false page per window is bounded by alpha) or Benjamini-Hochberg.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from valora_ml.profile import CategoricalProfile, NumericProfile, ReferenceProfile

__all__ = [
    "PSI_EPSILON",
    "Correction",
    "FeatureDrift",
    "TestResult",
    "adjust_p_values",
    "benjamini_hochberg",
    "bin_counts",
    "bin_labels",
    "categorical_drift",
    "chi2_homogeneity",
    "compare_window",
    "holm",
    "ks_binned",
    "ks_pvalue",
    "numeric_drift",
    "psi",
]

PSI_EPSILON = 1e-4
"""Share floor in PSI, so an empty bin on one side gives a large but finite term."""

Correction = Literal["holm", "bh", "none"]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its (uncorrected) p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class FeatureDrift:
    """One column of one window compared with the reference."""

    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    psi: float
    statistic: float
    p_value: float
    size: int
    labels: list[str]
    reference: list[float]
    current: list[float]
    p_adjusted: float = field(default=math.nan)

    def with_adjusted(self, p_adjusted: float) -> FeatureDrift:
        return replace(self, p_adjusted=p_adjusted)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(reference: ArrayLike, current: ArrayLike, *, epsilon: float = PSI_EPSILON) -> float:
    """PSI = sum((c - r) * ln(c / r)) over bins, shares floored at ``epsilon``."""
    ref = np.maximum(np.asarray(reference, dtype=float), epsilon)
    cur = np.maximum(np.asarray(current, dtype=float), epsilon)
    if ref.shape != cur.shape:
        raise ValueError(f"bins differ: {ref.shape} vs {cur.shape}")
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def bin_counts(values: ArrayLike, cuts: Sequence[float]) -> NDArray[np.int64]:
    """Counts of finite ``values`` per bin; bin ``i`` holds ``cuts[i-1] <= v < cuts[i]``
    (the binning of :func:`valora_ml.profile.profile_numeric`)."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    index = np.searchsorted(np.asarray(cuts, dtype=float), finite, side="right")
    return np.bincount(index, minlength=len(cuts) + 1).astype(np.int64)


def bin_labels(cuts: Sequence[float]) -> list[str]:
    """Readable labels of the bins defined by ``cuts``."""
    if not cuts:
        return ["all"]
    fmt = "{:.4g}".format
    inner = [f"[{fmt(a)}, {fmt(b)})" for a, b in itertools.pairwise(cuts)]
    return [f"< {fmt(cuts[0])}", *inner, f">= {fmt(cuts[-1])}"]


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Two-sided asymptotic KS p-value for samples of sizes ``n`` and ``m`` (Smirnov)."""
    if n <= 0 or m <= 0:
        return 1.0
    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(en)), 0.0, 1.0))


def ks_binned(
    reference_shares: ArrayLike, current_counts: ArrayLike, *, n_reference: int
) -> TestResult:
    """KS statistic (largest CDF gap at the bin edges) and p-value against a binned reference."""
    ref = np.asarray(reference_shares, dtype=float)
    counts = np.asarray(current_counts, dtype=float)
    n = int(counts.sum())
    if n == 0:
        return TestResult(0.0, 1.0)
    gap = np.abs(np.cumsum(ref) - np.cumsum(counts / n))
    d = float(gap[:-1].max()) if gap.size > 1 else 0.0
    return TestResult(d, ks_pvalue(d, n, n_reference))


def chi2_homogeneity(reference_counts: ArrayLike, current_counts: ArrayLike) -> TestResult:
    """Pearson chi-square test that two count vectors come from one distribution
    (``scipy.stats.chi2_contingency`` without Yates' correction); empty columns are dropped."""
    table = np.vstack(
        [np.asarray(reference_counts, dtype=float), np.asarray(current_counts, dtype=float)]
    )
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or np.any(rows <= 0):
        return TestResult(0.0, 1.0)
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return TestResult(statistic, float(stats.chi2.sf(statistic, dof)))


def numeric_drift(
    feature: str, profile: NumericProfile, values: ArrayLike, *, n_reference: int
) -> FeatureDrift:
    counts = bin_counts(values, profile.cuts)
    n = int(counts.sum())
    current = (counts / n).tolist() if n else [0.0] * len(profile.frequencies)
    ks = ks_binned(profile.frequencies, counts, n_reference=n_reference)
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        test="ks",
        psi=psi(profile.frequencies, current) if n else 0.0,
        statistic=ks.statistic,
        p_value=ks.p_value,
        size=n,
        labels=bin_labels(profile.cuts),
        reference=list(profile.frequencies),
        current=[float(c) for c in current],
    )


def categorical_drift(
    feature: str, profile: CategoricalProfile, values: Iterable[str], *, n_reference: int
) -> FeatureDrift:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    labels = [*profile.frequencies, *sorted(set(counts) - set(profile.frequencies))]
    ref = np.array([profile.frequencies.get(c, 0.0) for c in labels], dtype=float)
    cur_counts = np.array([counts.get(c, 0) for c in labels], dtype=float)
    n = int(cur_counts.sum())
    current = cur_counts / n if n else np.zeros_like(cur_counts)
    test = chi2_homogeneity(ref * n_reference, cur_counts)
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        test="chi2",
        psi=psi(ref, current) if n else 0.0,
        statistic=test.statistic,
        p_value=test.p_value,
        size=n,
        labels=labels,
        reference=ref.tolist(),
        current=current.tolist(),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control, any dependence)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate control)."""
    if not p_values:
        return []
    adjusted: Floats = stats.false_discovery_control(np.asarray(p_values, dtype=float))
    return [float(p) for p in adjusted]


def adjust_p_values(p_values: Sequence[float], method: Correction) -> list[float]:
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    return [float(p) for p in p_values]


def compare_window(
    profile: ReferenceProfile,
    *,
    numeric: Mapping[str, ArrayLike],
    categorical: Mapping[str, Iterable[str]],
    correction: Correction = "holm",
) -> list[FeatureDrift]:
    """Every profiled feature present in the window, with p-values corrected across them."""
    results = [
        numeric_drift(name, profile.numeric[name], values, n_reference=profile.n_rows)
        for name, values in numeric.items()
        if name in profile.numeric
    ]
    results += [
        categorical_drift(name, profile.categorical[name], values, n_reference=profile.n_rows)
        for name, values in categorical.items()
        if name in profile.categorical
    ]
    adjusted = adjust_p_values([r.p_value for r in results], correction)
    return [r.with_adjusted(p) for r, p in zip(results, adjusted, strict=True)]
