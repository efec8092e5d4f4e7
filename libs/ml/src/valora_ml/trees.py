"""Gradient-boosted trees as plain numpy: scikit-learn's ``HistGradientBoostingRegressor`` read
once into arrays and predicted by walking every tree at once, level by level.

scikit-learn's ``predict`` costs about a millisecond per call whatever the number of rows (input
validation, the thread pool of its tree walker), which is most of a one-house valuation when a
model (the price model, or the interval's 60-tree difficulty model) is a boosted ensemble. The
walk here does the same comparisons on the same float64 values (``x <= threshold`` goes left, a
missing value goes where the tree learnt it should), so it gives the same numbers; and
:func:`compile_trees` keeps the estimator as it is unless the compiled walk reproduces its
``predict`` on a probe that reaches every threshold from both sides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor

from valora_ml.intervals import NormalisedInterval, QuantileInterval

__all__ = ["CompiledTrees", "compile_interval", "compile_trees"]

logger = logging.getLogger(__name__)
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
_PROBE_ROWS = 512
_WALK_MAX_CELLS = 512
"""Rows x depth up to which the walk beats scikit-learn's compiled walker (measured: 1-8 rows
of a depth-17 model, or 64 rows of a depth-3 one, take a tenth to three quarters of the time);
larger batches go to the estimator itself."""


@dataclass(frozen=True)
class CompiledTrees:
    """The trees of a fitted boosted regressor (identity link), padded to one node table."""

    feature: np.ndarray[Any, np.dtype[np.intp]]
    threshold: FloatArray
    left: np.ndarray[Any, np.dtype[np.intp]]
    right: np.ndarray[Any, np.dtype[np.intp]]
    leaf: np.ndarray[Any, np.dtype[np.bool_]]
    missing_left: np.ndarray[Any, np.dtype[np.bool_]]
    value: FloatArray
    baseline: float
    depth: int
    estimator: Any
    """The estimator itself, for batches too large for the walk to be the faster."""
    inverse: Any = None
    """The target transformer of a ``TransformedTargetRegressor`` around the trees, if any."""

    def predict(self, matrix: FloatArray) -> FloatArray:
        x = np.asarray(matrix, dtype=np.float64)
        if x.shape[0] * self.depth > _WALK_MAX_CELLS:
            return np.asarray(self.estimator.predict(x), dtype=float)
        return self.walk(x)

    def walk(self, x: FloatArray) -> FloatArray:
        """The walk itself, whatever the batch size."""
        n_trees = self.feature.shape[0]
        rows = np.arange(x.shape[0])[:, None]
        trees = np.arange(n_trees)[None, :]
        node = np.zeros((x.shape[0], n_trees), dtype=np.intp)
        for _ in range(self.depth):
            values = x[rows, self.feature[trees, node]]
            go_left = np.where(
                np.isnan(values),
                self.missing_left[trees, node],
                values <= self.threshold[trees, node],
            )
            step = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(self.leaf[trees, node], node, step)
        raw = self.value[trees, node].sum(axis=1) + self.baseline
        if self.inverse is None:
            return np.asarray(raw, dtype=float)
        return np.asarray(self.inverse.inverse_transform(raw.reshape(-1, 1))[:, 0], dtype=float)


def compile_trees(estimator: Any, *, n_features: int) -> Any:
    """``estimator`` as :class:`CompiledTrees` when it is a boosted regressor (bare, or the
    regressor of a ``TransformedTargetRegressor``) with numeric splits and an identity link whose
    ``predict`` the compiled walk reproduces; otherwise ``estimator`` itself."""
    try:
        compiled = _read(estimator)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        logger.info("trees not compiled", extra={"reason": str(exc)[:200]})
        return estimator
    if compiled is None:
        return estimator
    probe = _probe(compiled, n_features)
    try:
        want = np.asarray(estimator.predict(probe), dtype=float)
        got = compiled.walk(probe)
    except Exception as exc:  # an estimator that cannot predict the probe stays as it is
        logger.warning("compiled trees not verified", extra={"reason": str(exc)[:200]})
        return estimator
    if want.shape != got.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-9):
        logger.warning("compiled trees differ from the estimator: not used")
        return estimator
    return compiled


def compile_interval(interval: Any) -> Any:
    """``interval`` with its boosted models compiled (the normalised interval's difficulty
    model, the quantile interval's two quantile models); any other interval as it is."""
    if isinstance(interval, NormalisedInterval):
        n = int(getattr(interval.scale_model, "n_features_in_", 0))
        if n:
            return replace(interval, scale_model=compile_trees(interval.scale_model, n_features=n))
    if isinstance(interval, QuantileInterval):
        n = int(getattr(interval.lower_model, "n_features_in_", 0))
        if n:
            return replace(
                interval,
                lower_model=compile_trees(interval.lower_model, n_features=n),
                upper_model=compile_trees(interval.upper_model, n_features=n),
            )
    return interval


def _read(estimator: Any) -> CompiledTrees | None:
    inverse = None
    model = estimator
    if isinstance(estimator, TransformedTargetRegressor):
        model, inverse = estimator.regressor_, estimator.transformer_
    if type(model) is not HistGradientBoostingRegressor:
        return None
    if type(model._loss.link).__name__ != "IdentityLink" or model.n_trees_per_iteration_ != 1:
        return None
    nodes = [tree.nodes for trees in model._predictors for tree in trees]
    if not nodes or any(n["is_categorical"].any() for n in nodes):
        return None
    width = max(len(n) for n in nodes)

    def table(field: str, dtype: Any, fill: Any) -> Any:
        out = np.full((len(nodes), width), fill, dtype=dtype)
        for i, n in enumerate(nodes):
            out[i, : len(n)] = n[field]
        return out

    return CompiledTrees(
        feature=table("feature_idx", np.intp, 0),
        threshold=table("num_threshold", np.float64, 0.0),
        left=table("left", np.intp, 0),
        right=table("right", np.intp, 0),
        leaf=table("is_leaf", np.bool_, True),
        missing_left=table("missing_go_to_left", np.bool_, True),
        value=table("value", np.float64, 0.0),
        baseline=float(np.asarray(model._baseline_prediction).reshape(-1)[0]),
        depth=int(max(n["depth"].max() for n in nodes)),
        estimator=estimator,
        inverse=inverse,
    )


def _probe(trees: CompiledTrees, n_features: int) -> FloatArray:
    """Rows that take every split both ways: each feature at, just below and just above its
    thresholds, at random elsewhere, and missing now and then."""
    rng = np.random.default_rng(0)
    split = ~trees.leaf
    columns = []
    for f in range(n_features):
        cuts = np.unique(trees.threshold[split & (trees.feature == f)])
        cuts = cuts[np.isfinite(cuts)]
        if cuts.size == 0:
            cuts = np.array([0.0])
        spread = max(float(np.ptp(cuts)), 1.0)
        pool = np.concatenate([cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf)])
        values = rng.choice(pool, size=_PROBE_ROWS)
        noise = rng.uniform(cuts.min() - spread, cuts.max() + spread, size=_PROBE_ROWS)
        values = np.where(rng.random(_PROBE_ROWS) < 0.3, noise, values)
        values[rng.random(_PROBE_ROWS) < 0.05] = np.nan
        columns.append(values)
    return np.column_stack(columns)
