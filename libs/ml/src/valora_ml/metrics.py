"""Metrics of a price model: RMSE, MAE, MAPE (a fraction), R², and interval quality.

:func:`interval_quality` measures an interval where it matters: coverage per price third (the
cheapest, middle and dearest third of the rows by *true* price) and per neighbourhood, beside
the overall coverage and mean width. :func:`third_coverage_failures` is the gate's check that
each third's coverage lies in a band around the nominal level; given a ``confidence`` it fails a
third only when the test rows show it outside the band at that confidence (the exact binomial
interval of its coverage lies outside the band), so sampling noise of a few hundred rows does
not reject a well-calibrated model, while a clear miss still does (0.796 of 195 rows: the 80 %
interval 0.76-0.83 lies below 0.85).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

__all__ = [
    "PRICE_THIRDS",
    "IntervalQuality",
    "RegressionMetrics",
    "coverage_by_group",
    "interval_quality",
    "metric_name",
    "price_thirds",
    "regression_metrics",
    "rmse",
    "third_coverage_failures",
]

PRICE_THIRDS: tuple[str, ...] = ("cheapest", "middle", "dearest")


@dataclass(frozen=True)
class RegressionMetrics:
    rmse: float
    mae: float
    mape: float
    r2: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return math.sqrt(float(mean_squared_error(y_true, y_pred)))


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> RegressionMetrics:
    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    r2 = float(r2_score(truth, pred)) if truth.size > 1 else 0.0
    return RegressionMetrics(
        rmse=rmse(truth, pred),
        mae=float(mean_absolute_error(truth, pred)),
        mape=float(mean_absolute_percentage_error(truth, pred)),
        r2=r2 if math.isfinite(r2) else 0.0,
    )


def price_thirds(y_true: ArrayLike) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Each row's third by true price (:data:`PRICE_THIRDS`), by rank: equal-sized thirds."""
    truth = np.asarray(y_true, dtype=float)
    labels = np.empty(truth.size, dtype=object)
    order = np.argsort(truth, kind="stable")
    for name, rows in zip(PRICE_THIRDS, np.array_split(order, 3), strict=True):
        labels[rows] = name
    return labels


def coverage_by_group(
    y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike, groups: ArrayLike
) -> dict[str, tuple[float, int]]:
    """``group -> (share of its rows inside [lower, upper], rows)``, sorted by group."""
    truth = np.asarray(y_true, dtype=float)
    inside = (truth >= np.asarray(lower, dtype=float)) & (truth <= np.asarray(upper, dtype=float))
    labels = np.asarray(groups, dtype=object).astype(str)
    out: dict[str, tuple[float, int]] = {}
    for name in sorted(set(labels.tolist())):
        rows = labels == name
        out[name] = (float(inside[rows].mean()), int(rows.sum()))
    return out


@dataclass(frozen=True)
class IntervalQuality:
    """How an interval did on labelled rows."""

    level: float
    coverage: float
    mean_width: float
    mean_relative_width: float  # mean of width / true price
    by_third: dict[str, float]
    by_neighbourhood: dict[str, tuple[float, int]]
    by_predicted_third: dict[str, float] = field(default_factory=dict)
    """Coverage per third by *predicted* price (what an interval can condition on)."""
    third_rows: dict[str, int] = field(default_factory=dict)
    """Rows in each third (by true price)."""

    def as_metrics(self, prefix: str = "test_") -> dict[str, float]:
        """Flat MLflow metrics: ``{prefix}coverage``, ``{prefix}coverage.third.cheapest``,
        ``{prefix}coverage.neighbourhood.<name>`` (name made metric-safe), widths."""
        out = {
            f"{prefix}coverage": self.coverage,
            f"{prefix}interval_mean_width": self.mean_width,
            f"{prefix}interval_mean_relative_width": self.mean_relative_width,
        }
        out.update({f"{prefix}coverage.third.{k}": v for k, v in self.by_third.items()})
        out.update(
            {f"{prefix}coverage.predicted_third.{k}": v for k, v in self.by_predicted_third.items()}
        )
        for name, (share, _) in self.by_neighbourhood.items():
            out[f"{prefix}coverage.neighbourhood.{metric_name(name)}"] = share
        return out


def metric_name(text: str) -> str:
    """``text`` with every character MLflow rejects in a metric name replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)[:200] or "_"


def interval_quality(
    y_true: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    *,
    neighbourhoods: Sequence[str] | None = None,
    predicted: ArrayLike | None = None,
    level: float = 0.9,
) -> IntervalQuality:
    """Coverage overall, per price third (by true price, and by ``predicted`` price when
    given) and per neighbourhood, and mean widths."""
    truth = np.asarray(y_true, dtype=float)
    low, high = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if truth.size == 0:
        return IntervalQuality(level, 0.0, 0.0, 0.0, {}, {})
    inside = (truth >= low) & (truth <= high)
    width = high - low
    thirds = coverage_by_group(truth, low, high, price_thirds(truth))
    groups = neighbourhoods if neighbourhoods is not None else ["all"] * truth.size
    by_predicted: dict[str, float] = {}
    if predicted is not None:
        shares = coverage_by_group(truth, low, high, price_thirds(predicted))
        by_predicted = {name: shares[name][0] for name in PRICE_THIRDS if name in shares}
    return IntervalQuality(
        level=level,
        coverage=float(inside.mean()),
        mean_width=float(width.mean()),
        mean_relative_width=float(np.mean(width / np.maximum(np.abs(truth), 1e-9))),
        by_third={name: thirds[name][0] for name in PRICE_THIRDS if name in thirds},
        by_neighbourhood=coverage_by_group(truth, low, high, np.asarray(groups, dtype=object)),
        by_predicted_third=by_predicted,
        third_rows={name: thirds[name][1] for name in PRICE_THIRDS if name in thirds},
    )


def third_coverage_failures(
    quality: IntervalQuality,
    *,
    low: float = 0.85,
    high: float = 0.95,
    confidence: float | None = None,
) -> list[str]:
    """One reason per price third whose coverage lies outside ``[low, high]`` (gate check);
    with ``confidence``, only when the exact binomial interval of that coverage does too."""
    reasons = []
    for name, share in quality.by_third.items():
        if low <= share <= high:
            continue
        rows = quality.third_rows.get(name, 0)
        shown = f"{quality.level:.0%} interval covers {share:.3f} of the {name} third"
        if confidence is None or rows == 0:
            reasons.append(f"{shown} (required {low:.2f}-{high:.2f})")
            continue
        ci = binomtest(round(share * rows), rows).proportion_ci(confidence_level=confidence)
        if ci.high < low or ci.low > high:
            reasons.append(
                f"{shown} ({rows} rows; its {confidence:.0%} interval {ci.low:.3f}-{ci.high:.3f} "
                f"lies outside the required {low:.2f}-{high:.2f})"
            )
    return reasons
