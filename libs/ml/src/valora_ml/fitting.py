"""Fit a valuation model on every labelled row it may see, with a cross-conformal interval.

Two models per run, of one configuration (an unfitted pipeline factory):

1. :func:`fit_gate_model` takes candidate configurations (the search's best, and reference ones
   such as the untuned defaults, so the champion is never worse than an untuned model on the
   rows it may see) and keeps the one with the lowest RMSE where the model will be used: on
   dated rows (a time split), fitted on the older rows and scored on the newest
   :data:`NEWEST_SHARE` of the ``fit`` rows (a model values the future: random folds would judge
   interpolation, and a log-price model that follows the market's level lost that way on Ames
   while winning on the newest sales); otherwise by K-fold out-of-fold RMSE (:func:`cross_fit`).
   The first candidate, the search's best, was tuned on these very rows, so its score is
   optimistic (the winner's curse of picking the best of many trials): it is kept only when it
   beats the best other candidate by ``first_margin`` (e.g. 2 %), else the other is.
   That configuration is fitted on every ``fit`` row (no calibration rows are held back) and its
   K-fold out-of-fold predictions calibrate the interval
   (:func:`~valora_ml.intervals.fit_interval`). On dated rows the K folds are contiguous
   blocks of time (:func:`valora_ml.crossfit.cross_fit` with ``dates``), not shuffled rows: a
   row is then predicted by a model that saw no sale of its own period, as a served model values
   sales after its newest one, so the interval and the error model are calibrated on errors
   like the ones they meet (shuffled folds let every row's neighbours in time into the fit; on
   Grinnell's newest sales the interval covered 0.857 overall, and 0.890 with blocks). The gate
   judges this model on the test rows it never saw.
2. :func:`fit_served_model` refits the configuration on *all* rows (fit + test) for serving.
   Its interval is calibrated on the out-of-sample predictions of every row: the K-fold ones of
   the fit rows and the gate model's own predictions of the test rows (the newest rows under a
   time split, so the served interval reflects the latest market).

Given :class:`~valora_ml.error_model.ErrorModelSettings`, each model also carries an error model
(direct loss estimation) fitted on the same out-of-sample errors as its interval: the gate
model's on its fit rows' out-of-fold errors (so the test rows can judge it), the served model's
on every row's.

:class:`RowCounts` holds the row counts to log (rows the gate saw, rows the served model was
fitted on). Callers limit threads (``threadpoolctl``) around these calls as around any fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from valora_ml.crossfit import MakePipeline, OutOfFold, cross_fit, newest_rmse
from valora_ml.error_model import ErrorModelSettings, fit_error_model
from valora_ml.features import FEATURE_COLUMNS, TIME_COLUMN
from valora_ml.intervals import IntervalMethod, fit_interval
from valora_ml.metrics import rmse
from valora_ml.model_errors import CalibrationError
from valora_ml.pricemodel import PriceModel
from valora_ml.ranges import training_ranges
from valora_ml.splitting import has_dates

__all__ = [
    "NEWEST_SHARE",
    "GateFit",
    "IntervalSettings",
    "MakePipeline",
    "OutOfFold",
    "RowCounts",
    "cross_fit",
    "fit_gate_model",
    "fit_served_model",
    "model_inputs",
    "newest_rmse",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
NEWEST_SHARE = 0.2
"""On dated rows, candidates are compared on this newest share of the fit rows."""


@dataclass(frozen=True)
class IntervalSettings:
    level: float = 0.9
    method: IntervalMethod = "normalised"
    folds: int = 5
    seed: int = 0


@dataclass(frozen=True)
class GateFit:
    model: PriceModel
    out_of_fold: OutOfFold
    rows: int
    chosen: str
    """The name of the candidate configuration that was fitted."""
    make_pipeline: MakePipeline = field(repr=False)
    candidate_rmse: dict[str, float] = field(default_factory=dict)
    """Each candidate's RMSE as compared (MLflow metrics): on the newest fit rows, or
    out-of-fold (see ``selection``)."""
    selection: str = "out_of_fold"
    """How the candidates were compared: ``newest`` (dated rows) or ``out_of_fold``."""
    calibration_folds: str = "shuffled"
    """The out-of-fold predictions' folds: ``time_blocks`` (dated rows) or ``shuffled``."""


@dataclass(frozen=True)
class RowCounts:
    gate_fit: int
    gate_test: int
    served_fit: int

    def as_params(self) -> dict[str, int]:
        """MLflow params: rows the gate model was fitted on and judged on, and the rows the
        served model was fitted on."""
        return {
            "rows.gate_fit": self.gate_fit,
            "rows.gate_test": self.gate_test,
            "rows.served_fit": self.served_fit,
        }


def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a pipeline is fitted on: the six inputs, and the date column if present."""
    columns = [*FEATURE_COLUMNS, *([TIME_COLUMN] if TIME_COLUMN in frame else [])]
    return frame[columns].reset_index(drop=True)


def _price_model(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: FloatArray,
    oof: OutOfFold,
    *,
    settings: IntervalSettings,
    model_family: str,
    error_model: ErrorModelSettings | None,
) -> PriceModel:
    matrix = np.asarray(pipeline[:-1].transform(x), dtype=float)
    interval = fit_interval(
        matrix=matrix,
        y=y,
        predictions=oof.predictions,
        folds=oof.folds,
        level=settings.level,
        method=settings.method,
        seed=settings.seed,
    )
    price = np.asarray(pipeline[-1].predict(matrix), dtype=float)
    lower, upper = interval.bounds(matrix, price)
    model = PriceModel(
        pipeline,
        half_width=float(np.median(upper - lower) / 2.0),
        level=settings.level,
        model_family=model_family,
        interval=interval,
        ranges=training_ranges(x),
        error_model=None
        if error_model is None
        else fit_error_model(matrix=matrix, y=y, predictions=oof.predictions, settings=error_model),
    )
    model.compile()
    return model


def _compare(
    candidates: Mapping[str, MakePipeline],
    dates: pd.Series | None,
    x: pd.DataFrame,
    y: FloatArray,
    settings: IntervalSettings,
    first_margin: float,
) -> tuple[str, dict[str, float], str, dict[str, OutOfFold]]:
    """The chosen name, each candidate's RMSE, how they were compared, and any out-of-fold
    predictions computed on the way."""
    if dates is not None and len(candidates) > 1:
        scores = {
            name: newest_rmse(make, x, y, dates, share=NEWEST_SHARE)
            for name, make in candidates.items()
        }
        return _choose(scores, first_margin), scores, "newest", {}
    folds = {
        name: cross_fit(make, x, y, folds=settings.folds, seed=settings.seed, dates=dates)
        for name, make in candidates.items()
    }
    scores = {name: rmse(y, oof.predictions) for name, oof in folds.items()}
    return _choose(scores, first_margin), scores, "out_of_fold", folds


def _choose(scores: Mapping[str, float], first_margin: float) -> str:
    """The lowest score; the first candidate must beat the best other by ``first_margin``."""
    first, *others = scores
    if not others:
        return first
    best_other = min(others, key=lambda name: scores[name])
    if scores[first] < (1.0 - first_margin) * scores[best_other]:
        return first
    return best_other


def fit_gate_model(
    *,
    candidates: Mapping[str, MakePipeline],
    fit_rows: pd.DataFrame,
    label: str,
    settings: IntervalSettings,
    model_family: Mapping[str, str] | str,
    first_margin: float = 0.0,
    error_model: ErrorModelSettings | None = None,
) -> GateFit:
    """The model the gate judges: the best candidate (see the module docstring; ties: the
    first), fitted on every ``fit_rows`` row, with a cross-conformal interval
    (``model_family``: one name, or one per candidate) and, given ``error_model``, an error
    model fitted on the out-of-fold errors."""
    if not candidates:
        raise CalibrationError("no candidate configuration to fit")
    x, y = model_inputs(fit_rows), fit_rows[label].to_numpy(dtype=float)
    dates = fit_rows[TIME_COLUMN] if has_dates(fit_rows) else None
    chosen, scores, selection, folds = _compare(candidates, dates, x, y, settings, first_margin)
    oof = folds.get(chosen) or cross_fit(
        candidates[chosen], x, y, folds=settings.folds, seed=settings.seed, dates=dates
    )
    family = model_family if isinstance(model_family, str) else model_family[chosen]
    pipeline = candidates[chosen]().fit(x, y)
    model = _price_model(
        pipeline, x, y, oof, settings=settings, model_family=family, error_model=error_model
    )
    return GateFit(
        model=model,
        out_of_fold=oof,
        rows=len(x),
        chosen=chosen,
        make_pipeline=candidates[chosen],
        candidate_rmse=scores,
        selection=selection,
        calibration_folds="shuffled" if dates is None else "time_blocks",
    )


def fit_served_model(
    *,
    gate: GateFit,
    fit_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
    label: str,
    settings: IntervalSettings,
    error_model: ErrorModelSettings | None = None,
) -> tuple[PriceModel, RowCounts]:
    """The model to serve: the gate model's configuration refitted on ``fit_rows`` and
    ``test_rows`` (the rows ``gate`` was fitted on, and judged on), with its row counts."""
    x_test = model_inputs(test_rows)
    test_pred = np.asarray(gate.model.pipeline.predict(x_test), dtype=float)
    x = pd.concat([model_inputs(fit_rows), x_test], ignore_index=True)
    y = np.concatenate(
        [fit_rows[label].to_numpy(dtype=float), test_rows[label].to_numpy(dtype=float)]
    )
    if len(fit_rows) != gate.rows:
        raise CalibrationError("fit_rows must be the rows the gate model was fitted on")
    test_fold = int(gate.out_of_fold.folds.max()) + 1
    oof = OutOfFold(
        predictions=np.concatenate([gate.out_of_fold.predictions, test_pred]),
        folds=np.concatenate([gate.out_of_fold.folds, np.full(len(x_test), test_fold)]),
    )
    pipeline = gate.make_pipeline().fit(x, y)
    family = gate.model.model_family
    model = _price_model(
        pipeline, x, y, oof, settings=settings, model_family=family, error_model=error_model
    )
    return model, RowCounts(gate_fit=gate.rows, gate_test=len(x_test), served_fit=len(x))
