"""Today's error before the sales arrive: a prediction window's mean estimated absolute error.

Each ``predictions.made.v1`` carries the model's estimate of its own absolute error (its error
model, :mod:`valora_ml.error_model`: direct loss estimation). A window's mean of them estimates
the model's current MAE from the inputs alone, long before realised prices can be joined; set
against the model's hold-out test MAE it says whether today's inputs are harder than those the
model was tested on. A change of prices alone (concept drift) is invisible to it: only realised
sales show that (:mod:`.statistics`, performance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ErrorEstimate", "PredictedRow", "estimate_of"]

PredictedRow = tuple[float, float]
"""A prediction in its window: its price, and its estimated absolute error (NaN: none)."""


@dataclass(frozen=True)
class ErrorEstimate:
    """A window's mean estimated absolute error, over the predictions that carry one."""

    mean: float
    rows: int
    ratio: float | None
    """``mean`` divided by the model's test MAE (``None``: no test MAE known)."""


def estimate_of(rows: Sequence[PredictedRow], *, test_mae: float | None) -> ErrorEstimate | None:
    """The mean estimate of ``rows`` (``None`` when none of them carries an estimate)."""
    estimates = [e for _, e in rows if math.isfinite(e) and e >= 0]
    if not estimates:
        return None
    mean = math.fsum(estimates) / len(estimates)
    ratio = mean / test_mae if test_mae is not None and test_mae > 0 else None
    return ErrorEstimate(mean=mean, rows=len(estimates), ratio=ratio)
