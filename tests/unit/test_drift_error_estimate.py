"""A prediction window's mean estimated absolute error (pure): rows without an estimate left out,
the ratio only against a known test MAE."""

from __future__ import annotations

import math

import pytest
from valora_drift_monitor.domain.error_estimate import estimate_of

pytestmark = pytest.mark.unit


def test_the_mean_leaves_out_rows_without_an_estimate() -> None:
    rows = [(1.0, 10.0), (2.0, math.nan), (3.0, 30.0), (4.0, -1.0)]
    estimate = estimate_of(rows, test_mae=10.0)
    assert estimate is not None
    assert (estimate.mean, estimate.rows, estimate.ratio) == (20.0, 2, 2.0)


def test_no_estimate_without_estimates_and_no_ratio_without_a_test_mae() -> None:
    assert estimate_of([(1.0, math.nan)], test_mae=10.0) is None
    assert estimate_of([], test_mae=10.0) is None
    for unknown in (None, 0.0):
        estimate = estimate_of([(1.0, 5.0)], test_mae=unknown)
        assert estimate is not None
        assert estimate.ratio is None
