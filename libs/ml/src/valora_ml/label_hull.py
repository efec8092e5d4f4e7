"""Label-conditional (Mondrian by true price third) intervals as one interval per house: the
hull of the prices each third's quantiles accept (:func:`label_hull`), and the narrowing of each
third's quantiles until the hull covers that third at the level (:func:`fit_hull_to_level`).
Used by :class:`valora_ml.intervals.NormalisedInterval`; vectorised numpy, no Python per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MIN_BIN_ROWS", "Calibration", "fit_hull_to_level", "label_hull"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
MIN_BIN_ROWS = 100
"""A price third with fewer calibration rows uses the pooled quantiles."""
_HULL_PASSES = 3
_BISECTION_STEPS = 20


def label_hull(
    centre: FloatArray,
    scale: FloatArray,
    edges: tuple[float, ...],
    lower_quantiles: tuple[float, ...],
    upper_quantiles: tuple[float, ...],
) -> tuple[FloatArray, FloatArray]:
    """Per row, the lowest and highest log price ``y`` that the quantiles of ``y``'s own third
    accept (rows by thirds, vectorised); a row no third accepts keeps its point price."""
    q_lo, q_hi = np.asarray(lower_quantiles), np.asarray(upper_quantiles)
    accepted_low = centre[:, None] - q_lo[None, :] * scale[:, None]
    accepted_high = centre[:, None] + q_hi[None, :] * scale[:, None]
    bottom = np.concatenate([[-np.inf], edges])
    top = np.concatenate([edges, [np.inf]])
    low = np.maximum(accepted_low, bottom[None, :])
    high = np.minimum(accepted_high, top[None, :])
    some = low <= high
    lowest = np.where(some, low, np.inf).min(axis=1)
    highest = np.where(some, high, -np.inf).max(axis=1)
    none = ~some.any(axis=1)
    return np.where(none, centre, lowest), np.where(none, centre, highest)


@dataclass(frozen=True)
class Calibration:
    """The cross-fitted calibration rows: predicted log price, scale, true log price, third."""

    centre: FloatArray
    scale: FloatArray
    log_y: FloatArray
    bins: Any
    edges: tuple[float, ...]

    def third_coverage(self, b: int, quantiles: list[tuple[float, float]]) -> float:
        """Share of third ``b``'s rows inside the hull that ``quantiles`` give them."""
        rows = self.bins == b
        low, high = label_hull(
            self.centre[rows],
            self.scale[rows],
            self.edges,
            tuple(q[0] for q in quantiles),
            tuple(q[1] for q in quantiles),
        )
        truth = self.log_y[rows]
        return float(np.mean((truth >= low) & (truth <= high)))


def fit_hull_to_level(
    cal: Calibration, quantiles: list[tuple[float, float]], level: float
) -> list[tuple[float, float]]:
    """Each third's quantiles narrowed (never widened) until the *hull* covers that third's
    calibration rows at the finite-sample level ``ceil((n + 1) · level) / n``.

    A third's own quantiles already cover its rows at the level; the hull adds the prices the
    other thirds accept, so a middle third, which borders both, was over-covered (0.98 on
    Sacramento's test rows). A third's acceptance set keeps its centre and shrinks its width
    (bisection on a factor in [0, 1]; coverage only grows with it), in a few passes because
    each third's hull depends on the others' quantiles."""
    fitted = list(quantiles)
    for _ in range(_HULL_PASSES):
        for b, (q_lo, q_hi) in enumerate(quantiles):
            n = int(np.sum(cal.bins == b))
            half, offset = (q_hi + q_lo) / 2.0, (q_hi - q_lo) / 2.0
            if n < MIN_BIN_ROWS or half <= 0:
                continue
            target = min(1.0, math.ceil((n + 1) * level) / n)
            low, high = 0.0, 1.0
            if cal.third_coverage(b, _narrowed(fitted, b, half, offset, high)) >= target:
                for _ in range(_BISECTION_STEPS):
                    middle = (low + high) / 2.0
                    trial = _narrowed(fitted, b, half, offset, middle)
                    if cal.third_coverage(b, trial) >= target:
                        high = middle
                    else:
                        low = middle
            fitted = _narrowed(fitted, b, half, offset, high)
    return fitted


def _narrowed(
    quantiles: list[tuple[float, float]], b: int, half: float, offset: float, factor: float
) -> list[tuple[float, float]]:
    """``quantiles`` with third ``b``'s acceptance width scaled by ``factor`` about its centre."""
    out = list(quantiles)
    out[b] = (half * factor - offset, half * factor + offset)
    return out
