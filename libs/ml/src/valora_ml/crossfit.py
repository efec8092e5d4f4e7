"""Out-of-fold predictions: each row valued by a model that did not see it.

:func:`cross_fit` gives every row a prediction from a model fitted without the row's fold: K
shuffled folds, or, when every row is dated, K contiguous blocks of time (a served model values
sales after its newest one; shuffled folds would let each row's neighbours in time into the fit
and calibrate on interpolation). :func:`newest_rmse` scores a configuration the way it is used
on dated rows: fitted on the older rows, judged on the newest share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from valora_ml.metrics import rmse
from valora_ml.model_errors import CalibrationError

__all__ = ["MakePipeline", "OutOfFold", "cross_fit", "date_order", "newest_rmse"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
MakePipeline = Callable[[], Pipeline]
"""A fresh, unfitted pipeline of the chosen configuration (e.g. the trainer's ``build_model``)."""


@dataclass(frozen=True)
class OutOfFold:
    """Each row's prediction by a model that did not see its fold, and the fold."""

    predictions: FloatArray
    folds: IntArray


def date_order(dates: pd.Series) -> IntArray:
    """Row positions from the oldest date to the newest (ties keep their order)."""
    stamps = pd.to_datetime(dates, utc=True, format="ISO8601").reset_index(drop=True)
    return stamps.sort_values(kind="stable").index.to_numpy(dtype=np.int64)


def cross_fit(
    make_pipeline: MakePipeline,
    x: pd.DataFrame,
    y: FloatArray,
    *,
    folds: int,
    seed: int,
    dates: pd.Series | None = None,
) -> OutOfFold:
    """Out-of-fold predictions of ``make_pipeline`` over K folds of ``x``: shuffled rows, or,
    given each row's ``dates``, K contiguous blocks of time (oldest to newest)."""
    if len(y) < 2 * folds:
        raise CalibrationError(f"{len(y)} rows are too few for {folds}-fold calibration")
    predictions = np.empty(len(y), dtype=float)
    fold_of = np.empty(len(y), dtype=np.int64)
    if dates is None:
        splits = KFold(folds, shuffle=True, random_state=seed).split(x)
    else:
        order = date_order(dates)
        splits = (
            (order[train], order[held]) for train, held in KFold(folds, shuffle=False).split(order)
        )
    for k, (train_rows, held_rows) in enumerate(splits):
        model = make_pipeline().fit(x.iloc[train_rows], y[train_rows])
        predictions[held_rows] = model.predict(x.iloc[held_rows])
        fold_of[held_rows] = k
    return OutOfFold(predictions=predictions, folds=fold_of)


def newest_rmse(
    make_pipeline: MakePipeline, x: pd.DataFrame, y: FloatArray, dates: pd.Series, *, share: float
) -> float:
    """RMSE on the newest ``share`` of the rows of ``make_pipeline`` fitted on the older ones."""
    order = date_order(dates)
    n_new = max(1, round(len(order) * share))
    older, newest = order[:-n_new], order[-n_new:]
    model = make_pipeline().fit(x.iloc[older], y[older])
    return rmse(y[newest], model.predict(x.iloc[newest]))
