"""The reference a window is compared with: one model version's profile and test metrics.

The trainer logs ``reference_profile.json`` with every model version's run and its hold-out
metrics as ``test_mae`` / ``test_mape``; :mod:`~valora_drift_monitor.adapters.reference_loader`
reads them from MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

from valora_ml.profile import ReferenceProfile

__all__ = ["Reference"]


@dataclass(frozen=True)
class Reference:
    """One model version's reference profile and hold-out metrics."""

    model_name: str
    model_version: str
    run_id: str
    profile: ReferenceProfile
    test_mae: float | None
    test_mape: float | None

    def test_metric(self, statistic: str) -> float | None:
        value = self.test_mae if statistic == "mae" else self.test_mape
        return value if value is not None and value > 0 else None
