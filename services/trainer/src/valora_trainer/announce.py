"""What the trainer announces: promotion events and the tag marking them announced."""

from __future__ import annotations

from valora_contracts import ModelMetrics

__all__ = ["ANNOUNCED_TAG", "metrics_from_run"]

ANNOUNCED_TAG = "valora.promotion_announced"
"""Model-version tag set once ``models.promoted.v1`` was published for that version."""


def metrics_from_run(values: dict[str, float]) -> ModelMetrics:
    return ModelMetrics(
        rmse=values.get("test_rmse", 0.0),
        mae=values.get("test_mae", 0.0),
        mape=values.get("test_mape", 0.0),
        r2=values.get("test_r2", 0.0),
        interval_coverage=min(1.0, max(0.0, values.get("test_interval_coverage", 0.0))),
        n_train=int(values.get("test_n_train", 0)),
        n_test=int(values.get("test_n_test", 0)),
    )
