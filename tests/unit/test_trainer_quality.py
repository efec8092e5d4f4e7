"""Acceptance of the training steps on the synthetic generator (noise sigma = 20,000).

5,000 training rows: test RMSE <= 1.15 x 20,000 and the 90% split-conformal interval covers
85-95% of test rows. No Kafka, PostgreSQL or MLflow: the steps alone (in-memory Optuna study).
"""

from __future__ import annotations

import logging

import pytest
from valora_ml.features import contract_frame
from valora_ml.synthetic import generate_listings
from valora_trainer.config import load_config
from valora_trainer.domain.dataset import LABEL, split_frame
from valora_trainer.domain.estimators import calibrate, fit_model
from valora_trainer.domain.metrics import evaluate_predictions
from valora_trainer.domain.search import create_study, run_search

pytestmark = pytest.mark.unit
logger = logging.getLogger(__name__)

NOISE_SIGMA = 20_000.0
N_TRAIN = 5_000


def test_rmse_and_interval_coverage_on_synthetic_listings() -> None:
    config = load_config(overrides={"search": {"trials": 12, "timeout_s": 240}})
    # 5,000 train + 1,500 calibration + 2,000 test rows.
    frame = generate_listings(8_500, seed=7)
    frame.insert(0, "listing_id", [f"syn-{i:05d}" for i in range(len(frame))])
    split = split_frame(
        frame, calibration_fraction=1_500 / 8_500, test_fraction=2_000 / 8_500, seed=7
    )
    assert len(split.train) == N_TRAIN
    assert split.strategy == "random"

    study = create_study(study_name="quality", storage=None, config=config.search)
    search = run_search(
        train=split.train, label=LABEL, config=config.search, study=study, n_trials=12
    )
    model = fit_model(search.best, split.train, label=LABEL, seed=7, threads=1)
    half_width = calibrate(model.predict, split.calibration, label=LABEL, level=0.9)
    test_x = contract_frame(split.test)
    evaluation = evaluate_predictions(
        split.test[LABEL].to_numpy(dtype=float),
        model.predict(test_x),
        half_width=half_width,
        n_train=len(split.train),
    )
    m = evaluation.metrics
    print(  # figures for the report (pytest -s)
        f"\nbest={search.best} cv_rmse={search.best_value:.0f} test_rmse={m.rmse:.0f} "
        f"mae={m.mae:.0f} mape={m.mape:.4f} r2={m.r2:.4f} coverage={m.interval_coverage:.3f} "
        f"half_width={half_width:.0f}"
    )
    assert m.rmse <= 1.15 * NOISE_SIGMA
    assert 0.85 <= m.interval_coverage <= 0.95
