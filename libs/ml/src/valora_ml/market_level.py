"""The error estimate at today's price level: what the inputs alone cannot see.

The error model (:mod:`valora_ml.error_model`) estimates each valuation's absolute error from its
inputs, so a change of prices that leaves the inputs as they were (every price 20 % higher: the
synthetic market's ``inflate=1.2``) leaves the estimate where it was while the realised error
grows fivefold. Sale prices show such a change months later. Asking prices show it at once: a
streamed listing that carries its price is valued like any other, and the median of
``asking / predicted`` over a window's priced listings is the market's level relative to the
model (about 1 while the model is current, 1.2 after a 20 % inflation).

At level ``m`` a house the model values at ``ŷ`` with an error of mean absolute value ``e``
sells for about ``m·y``: its error ``m·y - ŷ = m·(y - ŷ) + (m - 1)·ŷ`` is a bias of
``(m - 1)·ŷ`` plus a spread of mean absolute value ``m·e``. Taken as normal, its expected
absolute value is the folded normal mean (:func:`expected_error_at_level`): ``e`` itself at
``m = 1``, growing smoothly (quadratically in the bias at first, so a level measured a little
off 1 barely moves it) to ``|m - 1|·ŷ`` when the bias dominates.

The level applies to every prediction of the window, requests included: a request's house is in
the same market as the window's listings. A window with fewer than ``min_rows`` priced listings
has no level, and its estimate is the inputs' alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

__all__ = ["expected_error_at_level", "market_level"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
_SD_PER_MEAN_ABS = math.sqrt(math.pi / 2)
"""A zero-mean normal's standard deviation per unit of mean absolute value."""


def market_level(asking: ArrayLike, predicted: ArrayLike, *, min_rows: int) -> float | None:
    """The median of ``asking / predicted`` over rows with a finite, positive asking price and
    prediction (NaN: no asking price); ``None`` when fewer than ``min_rows`` such rows."""
    a = np.asarray(asking, dtype=float)
    p = np.asarray(predicted, dtype=float)
    usable = np.isfinite(a) & (a > 0) & np.isfinite(p) & (p > 0)
    if int(usable.sum()) < max(1, min_rows):
        return None
    return float(np.median(a[usable] / p[usable]))


def expected_error_at_level(
    predicted: ArrayLike, expected: ArrayLike, *, level: float | None
) -> FloatArray:
    """Each row's expected absolute error at market ``level`` (``expected`` unchanged when the
    level is ``None``); rows without an estimate (NaN) stay NaN."""
    e = np.asarray(expected, dtype=float)
    if level is None or not math.isfinite(level) or level <= 0:
        return e
    bias = (level - 1.0) * np.asarray(predicted, dtype=float)
    sd = level * e * _SD_PER_MEAN_ABS
    with np.errstate(divide="ignore", invalid="ignore"):  # sd 0 or NaN: not taken below
        z = bias / sd
        folded = sd * math.sqrt(2 / math.pi) * np.exp(-0.5 * z * z) + bias * (1 - 2 * ndtr(-z))
    return np.where(sd > 0, folded, np.abs(bias) + 0.0 * e)  # 0.0 * NaN keeps NaN
