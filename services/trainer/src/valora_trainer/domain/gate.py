"""The quality gate: absolute thresholds, the interval in each price third, then no worse than
the champion on rows neither model learnt from.

Each price third's coverage must lie in ``third_coverage``; with ``third_coverage_confidence``
(the default, 0.8) a third fails when the test rows show it outside at that confidence, not
merely when the observed share is: 200 test rows a third measure a coverage to about ±0.02
(one standard error), so a literal band of ±0.05 would reject a calibrated model now and then
(0.965 of 200 rows is seen from a 0.93 coverage one time in ten) and block a first champion for
nothing, while a clear miss (0.796 of 195 rows) still fails.

Why not simply "the champion on the challenger's test rows", as before: the served model of
every run is refitted on all its rows, its test rows included (:mod:`valora_ml.fitting`), so
the champion has learnt from every row of its own snapshot, and most of the challenger's test
rows are such rows. Scored on its own training data the champion looks better than it is and
wins unfairly. So each challenger test row gets the champion's *out-of-sample* prediction:

- a row absent from the champion's snapshot (a listing that arrived after it trained; under a
  time split the newest rows are these): the champion's served model, which never saw it;
- a row that was one of the champion's own test rows: its gate model's logged prediction (every
  run logs ``evaluation/test_predictions.parquet``; that model never saw the row). This covers a
  retrain on unchanged data and the hash split, whose test rows persist as the store grows;
- a row the champion was fitted on: none, the row is left out of the comparison.

The challenger's gate model saw no test row, so both are scored on the same rows with today's
labels. With fewer than ``champion_min_rows`` such rows (a small store), the comparison falls
back to the champion run's logged test RMSE, measured on other rows, and says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from valora_contracts import GateResult, ModelMetrics
from valora_ml.metrics import IntervalQuality, rmse, third_coverage_failures

from valora_trainer.config import GateConfig

__all__ = [
    "ChampionScore",
    "OutOfSample",
    "champion_out_of_sample",
    "evaluate_gate",
    "score_champion",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class ChampionScore:
    """The champion's RMSE beside the challenger's, on ``rows`` test rows neither learnt from
    (``rows == 0``: the champion run's logged test RMSE, on other rows)."""

    version: str
    rmse: float
    challenger_rmse: float
    rows: int

    @property
    def basis(self) -> str:
        if self.rows:
            return f"on the same {self.rows} test rows, unseen by both"
        return "the champion's logged test RMSE (too few test rows unseen by both)"


@dataclass(frozen=True)
class OutOfSample:
    """Per challenger test row: the champion's logged out-of-sample prediction (NaN: none),
    and whether its served model may predict the row (absent from its snapshot)."""

    logged: FloatArray
    unseen: np.ndarray[Any, np.dtype[np.bool_]]


def champion_out_of_sample(
    test_ids: Sequence[str],
    *,
    snapshot_ids: Collection[str] | None,
    logged: Mapping[str, float],
) -> OutOfSample:
    """Which predictions of the champion are out of sample (see the module docstring).
    ``snapshot_ids`` ``None``: the champion's training rows are unknown (a model registered by
    hand), so every row counts as unseen, as the gate always assumed before."""
    ids = [str(i) for i in test_ids]
    known = set() if snapshot_ids is None else {str(i) for i in snapshot_ids}
    unseen = np.fromiter((i not in known for i in ids), dtype=bool, count=len(ids))
    values = np.fromiter((logged.get(i, np.nan) for i in ids), dtype=float, count=len(ids))
    values[unseen] = np.nan  # the served model answers those
    return OutOfSample(logged=values, unseen=unseen)


def score_champion(
    *,
    version: str,
    y_true: FloatArray,
    challenger: FloatArray,
    champion: FloatArray,
    min_rows: int,
    logged_rmse: float | None,
    challenger_test_rmse: float,
) -> ChampionScore | None:
    """Both models' RMSE on the rows where ``champion`` holds an out-of-sample prediction (the
    others NaN); too few rows: the logged RMSE, or ``None`` (no comparison possible)."""
    rows = np.isfinite(champion)
    if int(rows.sum()) >= min_rows:
        return ChampionScore(
            version=version,
            rmse=rmse(y_true[rows], champion[rows]),
            challenger_rmse=rmse(y_true[rows], challenger[rows]),
            rows=int(rows.sum()),
        )
    if logged_rmse is None or not np.isfinite(logged_rmse) or logged_rmse <= 0:
        return None
    return ChampionScore(
        version=version, rmse=logged_rmse, challenger_rmse=challenger_test_rmse, rows=0
    )


def evaluate_gate(
    *,
    metrics: ModelMetrics,
    quality: IntervalQuality | None,
    config: GateConfig,
    champion: ChampionScore | None,
) -> GateResult:
    reasons: list[str] = []
    if config.max_rmse is not None and metrics.rmse > config.max_rmse:
        reasons.append(f"rmse {metrics.rmse:.2f} > max_rmse {config.max_rmse:.2f}")
    if config.max_mape is not None and metrics.mape > config.max_mape:
        reasons.append(f"mape {metrics.mape:.4f} > max_mape {config.max_mape:.4f}")
    if config.min_r2 is not None and metrics.r2 < config.min_r2:
        reasons.append(f"r2 {metrics.r2:.4f} < min_r2 {config.min_r2:.4f}")
    if config.min_coverage is not None and metrics.interval_coverage < config.min_coverage:
        reasons.append(
            f"interval coverage {metrics.interval_coverage:.3f} < min_coverage "
            f"{config.min_coverage:.3f}"
        )
    if config.third_coverage is not None and quality is not None:
        low, high = config.third_coverage
        reasons.extend(
            third_coverage_failures(
                quality, low=low, high=high, confidence=config.third_coverage_confidence
            )
        )
    if champion is not None:
        limit = champion.rmse * (1.0 + config.champion_margin)
        if champion.challenger_rmse > limit:
            reasons.append(
                f"rmse {champion.challenger_rmse:.2f} worse than champion v{champion.version} "
                f"({champion.rmse:.2f}) by more than {config.champion_margin:.1%}, "
                f"{champion.basis}"
            )
    return GateResult(
        passed=not reasons,
        reasons=reasons,
        champion_version=champion.version if champion else None,
        champion_rmse=champion.rmse if champion else None,
    )
