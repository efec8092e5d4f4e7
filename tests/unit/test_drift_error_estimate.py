"""A prediction window's mean estimated absolute error (pure): rows without an estimate left out,
the ratio only against a known test MAE, and the estimate taken at the market level the window's
asking prices show (:mod:`valora_ml.market_level`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from valora_drift_monitor.domain.error_estimate import estimate_of
from valora_ml.market_level import expected_error_at_level, market_level

pytestmark = pytest.mark.unit
NAN = math.nan


def test_the_mean_leaves_out_rows_without_an_estimate() -> None:
    rows = [(1.0, 10.0, NAN), (2.0, NAN, NAN), (3.0, 30.0, NAN), (4.0, -1.0, NAN)]
    estimate = estimate_of(rows, test_mae=10.0, min_priced=1)
    assert estimate is not None
    assert (estimate.mean, estimate.rows, estimate.ratio) == (20.0, 2, 2.0)
    assert (estimate.inputs_only, estimate.level, estimate.priced) == (20.0, None, 0)


def test_no_estimate_without_estimates_and_no_ratio_without_a_test_mae() -> None:
    assert estimate_of([(1.0, NAN, 2.0)], test_mae=10.0, min_priced=1) is None
    assert estimate_of([], test_mae=10.0, min_priced=1) is None
    for unknown in (None, 0.0):
        estimate = estimate_of([(1.0, 5.0, NAN)], test_mae=unknown, min_priced=1)
        assert estimate is not None
        assert estimate.ratio is None


def test_asking_prices_at_the_models_level_leave_the_inputs_estimate_as_it_was() -> None:
    rows = [(100.0, 10.0, 100.0)] * 40
    estimate = estimate_of(rows, test_mae=10.0, min_priced=30)
    assert estimate is not None
    assert estimate.level == 1.0
    assert estimate.mean == pytest.approx(10.0)
    assert estimate.priced == 40


def test_too_few_asking_prices_give_no_level() -> None:
    rows = [(100.0, 10.0, 150.0)] * 29 + [(100.0, 10.0, NAN)] * 71
    estimate = estimate_of(rows, test_mae=10.0, min_priced=30)
    assert estimate is not None
    assert (estimate.level, estimate.mean, estimate.priced) == (None, 10.0, 29)


def test_the_level_is_the_median_so_one_absurd_asking_price_cannot_move_it() -> None:
    asking = [120.0] * 30 + [1e12]
    assert market_level(asking, [100.0] * 31, min_rows=30) == pytest.approx(1.2)
    assert market_level([120.0, NAN, -5.0, 0.0], [100.0, 100.0, 100.0, 100.0], min_rows=2) is None


@pytest.mark.parametrize("level", [0.8, 0.97, 1.0, 1.05, 1.2, 1.5])
def test_the_estimate_at_a_level_is_the_mean_absolute_error_of_prices_moved_to_it(
    level: float,
) -> None:
    """Simulated: errors normal with mean absolute value 20 % of the price, every price then
    moved to ``level``; the closed form matches the simulated MAE within 1 %."""
    rng = np.random.default_rng(7)
    predicted = rng.uniform(100_000, 900_000, 200_000)
    mean_abs = 0.2 * predicted
    sold = predicted + rng.normal(0.0, mean_abs * math.sqrt(math.pi / 2))
    realised = float(np.mean(np.abs(level * sold - predicted)))
    estimated = float(np.mean(expected_error_at_level(predicted, mean_abs, level=level)))
    assert estimated == pytest.approx(realised, rel=0.01)
    inputs_only = float(np.mean(mean_abs))
    if abs(level - 1) >= 0.2:  # the inputs' estimate alone is far off: the test can fail
        assert abs(inputs_only / realised - 1) > 0.25


def test_rows_without_an_estimate_stay_without_one_at_any_level() -> None:
    out = expected_error_at_level([100.0, 100.0, 100.0], [NAN, 0.0, 10.0], level=1.2)
    assert math.isnan(out[0])
    assert out[1] == pytest.approx(20.0)
    assert out[2] > 20.0
    same = expected_error_at_level([100.0], [10.0], level=None)
    assert same.tolist() == [10.0]
