"""Files a run keeps in MLflow: the snapshot data, the search trials, the evaluation (the gate
model's test predictions, interval coverage, plots) and the reference profile. Written to a
temporary directory, then logged through the :class:`Registry`; the gate reads a champion's
snapshot ids and test predictions back (:func:`read_snapshot_ids`,
:func:`read_test_predictions`)."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from valora_ml.metrics import IntervalQuality
from valora_ml.profile import PROFILE_FILENAME, ReferenceProfile

from valora_trainer.adapters.plots import render_plots
from valora_trainer.adapters.registry import Registry

__all__ = [
    "SNAPSHOT_ARTIFACT",
    "TEST_PREDICTIONS_ARTIFACT",
    "TestValuation",
    "log_evaluation",
    "log_profile",
    "log_snapshot",
    "log_trials",
    "profile_file",
    "read_snapshot",
    "read_snapshot_ids",
    "read_test_predictions",
]

logger = logging.getLogger(__name__)
SNAPSHOT_ARTIFACT = "snapshot/snapshot.parquet"
TEST_PREDICTIONS_ARTIFACT = "evaluation/test_predictions.parquet"
"""The gate model's valuation of each test row (``listing_id``, ``price``, ``prediction``,
``lower``, ``upper``): out-of-sample predictions a later gate compares a challenger with."""


def log_snapshot(registry: Registry, *, run_id: str, frame: pd.DataFrame) -> None:
    """The training data itself, so later steps (other pods) train on exactly these rows."""
    with tempfile.TemporaryDirectory(prefix="valora-snapshot-") as tmp:
        path = Path(tmp) / Path(SNAPSHOT_ARTIFACT).parent
        path.mkdir()
        frame.to_parquet(path / Path(SNAPSHOT_ARTIFACT).name, index=False)
        registry.log_artifacts(run_id, Path(tmp))


def read_snapshot(registry: Registry, *, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="valora-step-") as tmp:
        return pd.read_parquet(registry.download_artifact(run_id, SNAPSHOT_ARTIFACT, Path(tmp)))


def log_trials(registry: Registry, *, run_id: str, trials: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory(prefix="valora-search-") as tmp:
        trials.to_csv(Path(tmp) / "search_trials.csv", index=False)
        registry.log_artifacts(run_id, Path(tmp))


def read_snapshot_ids(registry: Registry, *, run_id: str) -> set[str] | None:
    """The listing ids a run trained on (``None``: the run has no snapshot, e.g. a model
    registered by hand; logged, since the gate then scores that champion on every row)."""
    with tempfile.TemporaryDirectory(prefix="valora-gate-") as tmp:
        try:
            path = registry.download_artifact(run_id, SNAPSHOT_ARTIFACT, Path(tmp))
            ids = pd.read_parquet(path, columns=["listing_id"])["listing_id"]
        except Exception as exc:  # missing artifact or unreadable file: the rows are unknown
            logger.warning(
                "champion snapshot unavailable", extra={"run_id": run_id, "error": str(exc)[:300]}
            )
            return None
    return {str(i) for i in ids}


def read_test_predictions(registry: Registry, *, run_id: str) -> dict[str, float]:
    """A run's logged out-of-sample test predictions by listing id (empty: none logged, as for
    runs before they were kept)."""
    with tempfile.TemporaryDirectory(prefix="valora-gate-") as tmp:
        try:
            path = registry.download_artifact(run_id, TEST_PREDICTIONS_ARTIFACT, Path(tmp))
            frame = pd.read_parquet(path, columns=["listing_id", "prediction"])
        except Exception as exc:  # runs before this artifact existed
            logger.info(
                "no logged test predictions", extra={"run_id": run_id, "error": str(exc)[:300]}
            )
            return {}
    return dict(
        zip(frame["listing_id"].astype(str), frame["prediction"].astype(float), strict=True)
    )


class TestValuation:
    """The gate model's valuation of the test rows, as the evaluation artifacts keep it."""

    def __init__(
        self,
        *,
        listing_ids: Any,
        y_true: np.ndarray[Any, Any],
        price: np.ndarray[Any, Any],
        lower: np.ndarray[Any, Any],
        upper: np.ndarray[Any, Any],
    ) -> None:
        self.frame = pd.DataFrame(
            {
                "listing_id": [str(i) for i in listing_ids],
                "price": y_true,
                "prediction": price,
                "lower": lower,
                "upper": upper,
            }
        )


def _coverage_json(quality: IntervalQuality) -> dict[str, Any]:
    return {
        "level": quality.level,
        "coverage": quality.coverage,
        "by_price_third": quality.by_third,
        "by_predicted_price_third": quality.by_predicted_third,
        "by_neighbourhood": {
            k: {"coverage": v, "rows": n} for k, (v, n) in quality.by_neighbourhood.items()
        },
    }


def log_evaluation(
    registry: Registry,
    *,
    run_id: str,
    valuation: TestValuation,
    quality: IntervalQuality,
    importance: Mapping[str, float] | None,
) -> None:
    """The test predictions, the interval's coverage per price third and per neighbourhood
    (``evaluation/interval_coverage.json``) and, when ``importance`` is given, the plots."""
    with tempfile.TemporaryDirectory(prefix="valora-train-") as tmp:
        out = Path(tmp)
        evaluation = out / Path(TEST_PREDICTIONS_ARTIFACT).parent
        evaluation.mkdir()
        valuation.frame.to_parquet(out / TEST_PREDICTIONS_ARTIFACT, index=False)
        coverage = json.dumps(_coverage_json(quality), indent=2, sort_keys=True)
        (evaluation / "interval_coverage.json").write_text(coverage, encoding="utf-8")
        if importance is not None:
            f = valuation.frame
            render_plots(
                y_true=f["price"].to_numpy(dtype=float),
                y_pred=f["prediction"].to_numpy(dtype=float),
                lower=f["lower"].to_numpy(dtype=float),
                upper=f["upper"].to_numpy(dtype=float),
                importance=dict(importance),
                out_dir=out,
            )
        registry.log_artifacts(run_id, out)


def log_profile(registry: Registry, *, run_id: str, profile: ReferenceProfile) -> None:
    """The served model's drift reference profile, beside the run's other artifacts."""
    with tempfile.TemporaryDirectory(prefix="valora-profile-") as tmp:
        out = Path(tmp)
        (out / PROFILE_FILENAME).write_text(profile.model_dump_json(indent=2), encoding="utf-8")
        registry.log_artifacts(run_id, out)


@contextmanager
def profile_file(profile: ReferenceProfile) -> Iterator[Path]:
    """The profile as a file for as long as the ``with`` lasts (it ships inside the model)."""
    with tempfile.TemporaryDirectory(prefix="valora-profile-") as tmp:
        path = Path(tmp) / PROFILE_FILENAME
        path.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
        yield path
