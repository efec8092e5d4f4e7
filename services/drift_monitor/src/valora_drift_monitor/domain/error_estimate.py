"""Today's error before the sales arrive: a prediction window's mean estimated absolute error.

Each ``predictions.made.v1`` carries the model's estimate of its own absolute error (its error
model, :mod:`valora_ml.error_model`: direct loss estimation, from the inputs alone). A window's
mean of them estimates the model's current MAE long before realised prices can be joined; set
against the model's hold-out test MAE it says whether today's inputs are harder than those the
model was tested on.

A change of prices alone (every price 20 % higher) is invisible to the inputs. The window's
streamed listings that carry an asking price show it at once: their median ``asking /
predicted`` is the market's level relative to the model (:mod:`valora_ml.market_level`), and
the estimate is taken at that level. A window with fewer than ``min_priced`` priced listings
keeps the inputs' estimate alone; both are published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from valora_ml.market_level import expected_error_at_level, market_level

__all__ = ["ErrorEstimate", "PredictedRow", "estimate_of"]

PredictedRow = tuple[float, float, float]
"""A prediction in its window: its price, its estimated absolute error and the listing's asking
price (NaN: none)."""


@dataclass(frozen=True)
class ErrorEstimate:
    """A window's mean estimated absolute error, over the predictions that carry one."""

    mean: float
    """At the window's market level (the inputs' estimate when the level is unknown)."""
    rows: int
    ratio: float | None
    """``mean`` divided by the model's test MAE (``None``: no test MAE known)."""
    inputs_only: float
    """The mean of the error model's estimates, from the inputs alone."""
    level: float | None = None
    """The median ``asking / predicted`` of the window's priced listings (``None``: too few)."""
    priced: int = 0
    """How many of the window's predictions carried an asking price."""


def estimate_of(
    rows: Sequence[PredictedRow], *, test_mae: float | None, min_priced: int
) -> ErrorEstimate | None:
    """The mean estimate of ``rows`` (``None`` when none of them carries an estimate)."""
    if not rows:
        return None
    price, expected, asking = (np.asarray(c, dtype=float) for c in zip(*rows, strict=True))
    usable = np.isfinite(expected) & (expected >= 0) & np.isfinite(price)
    if not usable.any():
        return None
    priced = np.isfinite(asking) & (asking > 0)
    level = market_level(asking, price, min_rows=min_priced)
    at_level = expected_error_at_level(price[usable], expected[usable], level=level)
    mean = float(np.mean(at_level))
    ratio = mean / test_mae if test_mae is not None and test_mae > 0 else None
    return ErrorEstimate(
        mean=mean,
        rows=int(usable.sum()),
        ratio=ratio,
        inputs_only=float(np.mean(expected[usable])),
        level=level,
        priced=int(priced.sum()),
    )
