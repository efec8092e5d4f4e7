"""The trainer fits the error model (direct loss estimation) into the gate and served models,
logs its estimate of the test MAE beside the realised one, and records the test MAE on the
registered version; the config can turn it off."""

from __future__ import annotations

import numpy as np
import pytest
from trainer_fakes import FakePublisher, FakeRegistry, small_config, store_frame
from valora_ml.features import FEATURE_COLUMNS
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.errors import ConfigError
from valora_trainer.service_layer.run import RunDeps, TrainingJob, run_training

pytestmark = pytest.mark.unit

JOB = TrainingJob(model_name="m", reason="manual", experiment="e", request_ids=(), trace_id="t")


def _run(config: TrainingConfig) -> tuple[FakeRegistry, str]:
    log: list[str] = []
    registry = FakeRegistry(log)
    deps = RunDeps(config=config, registry=registry, storage=None, publisher=FakePublisher(log))
    outcome = run_training(job=JOB, frame=store_frame(400, timed=False), deps=deps)
    return registry, outcome.run_id


def test_a_run_logs_the_estimated_test_mae_beside_the_realised_one() -> None:
    registry, run_id = _run(small_config())
    metrics = registry.runs[run_id]["metrics"]
    estimated, realised = metrics["test_estimated_mae"], metrics["test_mae"]
    assert estimated > 0
    assert metrics["test_estimated_mae_ratio"] == pytest.approx(estimated / realised)
    assert 0.5 < estimated / realised < 2.0  # the synthetic market's error, roughly
    version = registry.versions["1"]
    meta = version["metadata"]["valora"]
    assert meta["test_mae"] == pytest.approx(realised)
    assert meta["error_model"] == "relative"
    served = version["model"]
    assert served.estimator_of_error() is not None
    valuation = served.value(version["example"][list(FEATURE_COLUMNS)])
    assert valuation.expected_error is not None
    assert np.isfinite(valuation.expected_error).all()
    assert (valuation.expected_error > 0).all()


def test_the_error_model_can_be_turned_off_and_its_config_is_validated() -> None:
    config = small_config().model_copy(
        update={"error_model": small_config().error_model.model_copy(update={"enabled": False})}
    )
    registry, run_id = _run(config)
    assert "test_estimated_mae" not in registry.runs[run_id]["metrics"]
    assert registry.versions["1"]["model"].estimator_of_error() is None
    assert registry.versions["1"]["metadata"]["valora"]["error_model"] is None
    with pytest.raises(ConfigError):
        load_config(overrides={"error_model": {"target": "squared"}})
    assert load_config().error_model.loss == "squared_error"
