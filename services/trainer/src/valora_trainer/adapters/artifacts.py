"""Files a run keeps in MLflow: the snapshot data, the search trials, the evaluation (reference
profile, plots). Written to a temporary directory, then logged through the :class:`Registry`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from valora_ml.profile import PROFILE_FILENAME, ReferenceProfile

from valora_trainer.adapters.plots import render_plots
from valora_trainer.adapters.registry import Registry

__all__ = [
    "SNAPSHOT_ARTIFACT",
    "log_evaluation",
    "log_snapshot",
    "log_trials",
    "profile_file",
    "read_snapshot",
]

SNAPSHOT_ARTIFACT = "snapshot/snapshot.parquet"


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


def log_evaluation(
    registry: Registry,
    *,
    run_id: str,
    profile: ReferenceProfile,
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    half_width: float,
    importance: dict[str, float] | None,
) -> None:
    """The reference profile and, when ``importance`` is given, the diagnostic plots."""
    with tempfile.TemporaryDirectory(prefix="valora-train-") as tmp:
        out = Path(tmp)
        (out / PROFILE_FILENAME).write_text(profile.model_dump_json(indent=2), encoding="utf-8")
        if importance is not None:
            render_plots(
                y_true=y_true,
                y_pred=y_pred,
                half_width=half_width,
                importance=importance,
                out_dir=out,
            )
        registry.log_artifacts(run_id, out)


@contextmanager
def profile_file(profile: ReferenceProfile) -> Iterator[Path]:
    """The profile as a file for as long as the ``with`` lasts (it ships inside the model)."""
    with tempfile.TemporaryDirectory(prefix="valora-profile-") as tmp:
        path = Path(tmp) / PROFILE_FILENAME
        path.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
        yield path
