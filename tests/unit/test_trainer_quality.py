"""Acceptance of a whole training run on the synthetic generator (noise sigma = 20,000).

6,000 listings through ``run_training`` (the trainer's own code path: hash split, search,
candidates, cross-conformal interval, gate, refit on every row), with an in-memory registry and
study: the test RMSE stays within 1.15 x 20,000 and the gate, which requires each price third's
coverage of the 90 % interval within 0.85-0.95, promotes the model. No Kafka, PostgreSQL or
MLflow.
"""

from __future__ import annotations

import pytest
from trainer_fakes import FakePublisher, FakeRegistry, store_frame
from valora_trainer.config import load_config
from valora_trainer.service_layer.run import RunDeps, TrainingJob, run_training

pytestmark = pytest.mark.unit

NOISE_SIGMA = 20_000.0


def test_rmse_and_coverage_per_price_third_on_synthetic_listings() -> None:
    config = load_config(overrides={"search": {"trials": 8, "timeout_s": 240}, "plots": False})
    registry = FakeRegistry([])
    outcome = run_training(
        job=TrainingJob(model_name="q", reason="manual", experiment="e"),
        frame=store_frame(6_000, seed=7),
        deps=RunDeps(config=config, registry=registry, storage=None, publisher=FakePublisher([])),
    )
    m = outcome.metrics
    metrics = registry.runs[outcome.run_id]["metrics"]
    thirds = [metrics[f"test_coverage.third.{t}"] for t in ("cheapest", "middle", "dearest")]
    print(  # figures for the report (pytest -s)
        f"\ntest_rmse={m.rmse:.0f} mape={m.mape:.4f} r2={m.r2:.4f} "
        f"coverage={m.interval_coverage:.3f} thirds={[round(t, 3) for t in thirds]} "
        f"gate={outcome.gate.reasons}"
    )
    assert (m.n_train, m.n_test) == (4_800, 1_200)
    assert m.rmse <= 1.15 * NOISE_SIGMA
    assert outcome.gate.passed, outcome.gate.reasons
    assert all(0.85 <= t <= 0.95 for t in thirds)
