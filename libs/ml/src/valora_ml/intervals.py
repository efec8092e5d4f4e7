"""Locally adaptive prediction intervals, computed on the model's encoded feature matrix.

A constant ``price ± half_width`` over-covers cheap houses and under-covers dear ones. Two
adaptive conformal schemes, both on log-price (so widths scale with the price) and both fitted
cross-conformally (:func:`fit_interval`: out-of-sample predictions from K folds, so no row is
held back from the point model):

- ``normalised`` (the default): a small gradient-boosting *difficulty model* predicts the
  absolute log residual ``s(x)`` from the features and the predicted log price; the scores are
  the signed residuals ``(log y - log ŷ) / s(x)``, with one conformal quantile per side (each at
  ``(1 + level) / 2``), so the interval ``[ŷ · exp(-q_lo · s(x)), ŷ · exp(q_hi · s(x))]`` is wider
  below when cheap houses are over-valued more often than under-valued. Each row's ``s`` comes
  from a difficulty model that did not see that row's fold. The quantiles are *label-
  conditional* (Mondrian by the true price): one pair per third of the calibration rows' prices,
  each from the scores of that third's rows (pooled where a third has fewer than
  :data:`MIN_BIN_ROWS` rows). A house's interval is the hull of the prices ``y`` that its own
  third's quantiles accept (``y`` in third ``b`` and within ``b``'s bounds), so each price third,
  cheapest to dearest, is covered about the level: one pair of quantiles over-covered cheap
  houses and under-covered dear ones (a smooth difficulty model shrinks towards the mean), and
  even quantiles per *predicted*-price third left the cheapest true third at 0.837 on Ames
  (houses the model over-values; 0.898 with label thirds). The hull also takes in the prices
  the *other* thirds accept, which over-covered every third, the middle one most, so each
  third's quantiles are then narrowed (never widened) until the hull covers that third's
  calibration rows at the level (:func:`valora_ml.label_hull.fit_hull_to_level`). Pooled over
  five hold-outs (``tests/benchmarks/bench_quality_repeats.py``) the thirds went from 0.945 /
  0.955 / 0.906 to 0.910 / 0.910 / 0.894 on Sacramento, 0.919 / 0.932 / 0.913 to 0.890 / 0.892
  / 0.904 on Saratoga, 0.922 / 0.963 / 0.879 to 0.861 / 0.943 / 0.871 on Grinnell (0.878 / 0.934
  / 0.867 once dated rows were calibrated on blocks of time, :mod:`valora_ml.fitting`). A middle
  third that both neighbours' reach covers stays above the level whatever its own quantiles.
- ``cqr``: conformalised quantile regression; gradient boosting with the quantile loss predicts
  the ``(1-level)/2`` and ``(1+level)/2`` quantiles of log price, widened (or narrowed) by the
  conformal correction ``q`` of the scores ``max(lo - log y, log y - hi)``.

The fitted models are plain frozen dataclasses pickled inside the price model; ``bounds`` is
vectorised numpy over a feature matrix, so the compiled serving path computes intervals with the
same code as the reference path (no Python per row). Bounds always contain the point price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike
from sklearn.ensemble import HistGradientBoostingRegressor

from valora_ml.conformal import conformal_quantile
from valora_ml.label_hull import MIN_BIN_ROWS, Calibration, fit_hull_to_level, label_hull
from valora_ml.model_errors import CalibrationError

__all__ = [
    "INTERVAL_METHODS",
    "MIN_BIN_ROWS",
    "ConstantInterval",
    "IntervalMethod",
    "IntervalModel",
    "NormalisedInterval",
    "QuantileInterval",
    "fit_interval",
    "log_price",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntervalMethod = Literal["normalised", "cqr"]
INTERVAL_METHODS: tuple[IntervalMethod, ...] = ("normalised", "cqr")
_PRICE_FLOOR = 1.0
_SCALE_FLOOR_SHARE = 0.25
"""The difficulty model's output is floored at this share of the median absolute log residual
(a least-squares fit of ``|r|`` can predict values near zero or below)."""


def log_price(values: ArrayLike) -> FloatArray:
    """Natural log of prices floored at 1 currency unit (a model may predict <= 0)."""
    floored = np.maximum(np.asarray(values, dtype=float), _PRICE_FLOOR)
    return np.asarray(np.log(floored), dtype=float)


class IntervalModel(Protocol):
    """A fitted interval: bounds of each row from its encoded features and point price."""

    @property
    def level(self) -> float: ...

    @property
    def method(self) -> str: ...

    def bounds(self, matrix: FloatArray, price: FloatArray) -> tuple[FloatArray, FloatArray]: ...


def _containing(price: FloatArray, lower: FloatArray, upper: FloatArray) -> tuple[Any, Any]:
    return np.minimum(lower, price), np.maximum(upper, price)


@dataclass(frozen=True)
class ConstantInterval:
    """The former split-conformal interval: ``price ± half_width`` for every house."""

    level: float
    half_width: float
    method: str = "constant"

    def bounds(self, matrix: FloatArray, price: FloatArray) -> tuple[FloatArray, FloatArray]:
        return price - self.half_width, price + self.half_width


def _difficulty_features(matrix: FloatArray, log_pred: FloatArray) -> FloatArray:
    return np.column_stack([matrix, log_pred])


@dataclass(frozen=True)
class NormalisedInterval:
    """``[price · exp(-q_lo · s), price · exp(q_hi · s)]`` with ``s`` the difficulty model's
    output for the row's features and predicted log price; with ``edges`` (log-price boundaries
    between the calibration rows' price thirds) the hull of the prices each third's quantiles
    ``(lower_quantiles[b], upper_quantiles[b])`` accept in that third, else
    ``(lower_quantile, upper_quantile)`` for every row (models fitted before thirds)."""

    level: float
    lower_quantile: float
    upper_quantile: float
    scale_model: Any
    scale_floor: float
    method: str = "normalised"
    edges: tuple[float, ...] = ()
    lower_quantiles: tuple[float, ...] = ()
    upper_quantiles: tuple[float, ...] = ()

    def scale(self, matrix: FloatArray, price: FloatArray) -> FloatArray:
        features = _difficulty_features(matrix, log_price(price))
        raw = np.asarray(self.scale_model.predict(features), dtype=float)
        return np.asarray(np.maximum(raw, self.scale_floor), dtype=float)

    def bounds(self, matrix: FloatArray, price: FloatArray) -> tuple[FloatArray, FloatArray]:
        scale = self.scale(matrix, price)
        centre = log_price(price)
        edges = getattr(self, "edges", ())  # a model pickled before thirds has none
        if not edges:
            lower = np.exp(centre - self.lower_quantile * scale)
            return _containing(price, lower, np.exp(centre + self.upper_quantile * scale))
        low, high = label_hull(centre, scale, edges, self.lower_quantiles, self.upper_quantiles)
        return _containing(price, np.exp(low), np.exp(high))


@dataclass(frozen=True)
class QuantileInterval:
    """Conformalised quantile regression on log price."""

    level: float
    quantile: float
    lower_model: Any
    upper_model: Any
    method: str = "cqr"

    def bounds(self, matrix: FloatArray, price: FloatArray) -> tuple[FloatArray, FloatArray]:
        low = np.asarray(self.lower_model.predict(matrix), dtype=float) - self.quantile
        high = np.asarray(self.upper_model.predict(matrix), dtype=float) + self.quantile
        return _containing(price, np.exp(low), np.exp(np.maximum(high, low)))


def _difficulty_model(seed: int) -> HistGradientBoostingRegressor:
    # 60 shallow trees: a fraction of the price model's cost at serving, enough for a scale
    return HistGradientBoostingRegressor(
        max_iter=60, learning_rate=0.1, max_depth=3, min_samples_leaf=30, random_state=seed
    )


def _quantile_model(alpha: float, seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="quantile", quantile=alpha, max_iter=200, learning_rate=0.05, min_samples_leaf=20,
        random_state=seed,
    )  # fmt: skip


def _check(matrix: FloatArray, y: FloatArray, predictions: FloatArray, folds: Any) -> None:
    n = len(y)
    if matrix.shape[0] != n or predictions.shape != (n,) or np.shape(folds) != (n,):
        raise CalibrationError("matrix, labels, predictions and folds must have one row each")
    if len(np.unique(folds)) < 2:
        raise CalibrationError("cross-conformal intervals need at least two folds")


def fit_interval(
    *,
    matrix: ArrayLike,
    y: ArrayLike,
    predictions: ArrayLike,
    folds: ArrayLike,
    level: float = 0.9,
    method: IntervalMethod = "normalised",
    seed: int = 0,
) -> NormalisedInterval | QuantileInterval:
    """A cross-conformal interval from out-of-sample ``predictions`` (each row predicted by a
    model that did not see its fold in ``folds``), the encoded ``matrix`` of the served model's
    features and the labels ``y``. The interval's own models are cross-fitted on the same folds
    for the scores, then refitted on every row for serving."""
    x = np.asarray(matrix, dtype=float)
    truth, pred = np.asarray(y, dtype=float), np.asarray(predictions, dtype=float)
    fold = np.asarray(folds)
    _check(x, truth, pred, fold)
    if method == "normalised":
        return _fit_normalised(x, log_price(truth), log_price(pred), fold, level, seed)
    if method == "cqr":
        return _fit_quantile(x, log_price(truth), fold, level, seed)
    raise CalibrationError(f"unknown interval method {method!r}: one of {INTERVAL_METHODS}")


def _fit_normalised(
    x: FloatArray, log_y: FloatArray, log_pred: FloatArray, fold: Any, level: float, seed: int
) -> NormalisedInterval:
    signed = log_y - log_pred
    residual = np.abs(signed)
    features = _difficulty_features(x, log_pred)
    floor = max(float(np.median(residual)) * _SCALE_FLOOR_SHARE, 1e-6)
    scale = np.empty_like(residual)
    for k in np.unique(fold):
        inside = fold == k
        model = _difficulty_model(seed).fit(features[~inside], residual[~inside])
        scale[inside] = np.maximum(model.predict(features[inside]), floor)
    side_level = (1.0 + level) / 2.0  # each side misses at most (1 - level) / 2
    low_scores, high_scores = -signed / scale, signed / scale
    pooled = (
        conformal_quantile(low_scores, level=side_level),
        conformal_quantile(high_scores, level=side_level),
    )
    edges = tuple(float(e) for e in np.quantile(log_y, [1 / 3, 2 / 3]))  # by true price
    bins = np.searchsorted(np.asarray(edges), log_y, side="right")
    per_bin = [
        (
            conformal_quantile(low_scores[bins == b], level=side_level),
            conformal_quantile(high_scores[bins == b], level=side_level),
        )
        if int((bins == b).sum()) >= MIN_BIN_ROWS
        else pooled
        for b in range(len(edges) + 1)
    ]
    per_bin = fit_hull_to_level(
        Calibration(centre=log_pred, scale=scale, log_y=log_y, bins=bins, edges=edges),
        per_bin,
        level,
    )
    return NormalisedInterval(
        level=level,
        lower_quantile=pooled[0],
        upper_quantile=pooled[1],
        scale_model=_difficulty_model(seed).fit(features, residual),
        scale_floor=floor,
        edges=edges,
        lower_quantiles=tuple(q[0] for q in per_bin),
        upper_quantiles=tuple(q[1] for q in per_bin),
    )


def _fit_quantile(
    x: FloatArray, log_y: FloatArray, fold: Any, level: float, seed: int
) -> QuantileInterval:
    alpha_low, alpha_high = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    scores = np.empty_like(log_y)
    for k in np.unique(fold):
        inside = fold == k
        low = _quantile_model(alpha_low, seed).fit(x[~inside], log_y[~inside])
        high = _quantile_model(alpha_high, seed).fit(x[~inside], log_y[~inside])
        scores[inside] = np.maximum(
            low.predict(x[inside]) - log_y[inside], log_y[inside] - high.predict(x[inside])
        )
    quantile = conformal_quantile(scores, level=level)
    return QuantileInterval(
        level=level,
        quantile=quantile,
        lower_model=_quantile_model(alpha_low, seed).fit(x, log_y),
        upper_model=_quantile_model(alpha_high, seed).fit(x, log_y),
    )
