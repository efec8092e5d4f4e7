"""Split-conformal prediction intervals (absolute-residual score).

Fit on the training split, score the calibration split, and the ``level`` interval of a new
prediction is ``prediction ± half_width`` with finite-sample coverage of at least ``level``
(for exchangeable rows). The half-width is stored in the model so serving returns the interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from valora_ml.model_errors import CalibrationError

__all__ = ["conformal_half_width", "conformal_quantile", "interval_bounds", "interval_coverage"]


def conformal_half_width(y_true: ArrayLike, y_pred: ArrayLike, *, level: float = 0.9) -> float:
    """The ``ceil((n + 1) * level)``-th smallest absolute calibration residual."""
    scores = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    return conformal_quantile(scores, level=level)


def conformal_quantile(scores: ArrayLike, *, level: float = 0.9) -> float:
    """The ``ceil((n + 1) * level)``-th smallest conformity score (the finite-sample quantile
    that gives coverage of at least ``level`` to exchangeable rows)."""
    if not 0.0 < level < 1.0:
        raise CalibrationError(f"level must be in (0, 1), got {level}")
    scores = np.asarray(scores, dtype=float).reshape(-1)
    n = scores.size
    rank = math.ceil((n + 1) * level)
    if n == 0 or rank > n:
        raise CalibrationError(
            f"{n} calibration rows are too few for a {level:.0%} interval "
            f"(need at least {math.ceil(level / (1 - level))})"
        )
    return float(np.sort(scores)[rank - 1])


def interval_bounds(
    y_pred: ArrayLike, half_width: float
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Lower and upper bounds of the symmetric interval around each prediction."""
    pred = np.asarray(y_pred, dtype=float)
    return pred - half_width, pred + half_width


def interval_coverage(y_true: ArrayLike, y_pred: ArrayLike, half_width: float) -> float:
    """Share of rows whose true value lies inside ``prediction ± half_width``."""
    truth = np.asarray(y_true, dtype=float)
    if truth.size == 0:
        return 0.0
    lower, upper = interval_bounds(y_pred, half_width)
    return float(np.mean((truth >= lower) & (truth <= upper)))
