"""valora_ml.intervals and interval metrics: adaptive widths that keep their coverage."""

from __future__ import annotations

import numpy as np
import pytest
from valora_ml.conformal import conformal_half_width, conformal_quantile
from valora_ml.intervals import NormalisedInterval, QuantileInterval, fit_interval
from valora_ml.label_hull import Calibration, fit_hull_to_level
from valora_ml.metrics import (
    interval_quality,
    metric_name,
    price_thirds,
    third_coverage_failures,
)
from valora_ml.model_errors import CalibrationError

pytestmark = pytest.mark.unit


def heteroscedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prices whose relative noise grows with the first feature (0.05 to 0.45 in log)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, 3))
    log_mean = 12.0 + x[:, 1]
    noise = rng.normal(0.0, 0.05 + 0.4 * x[:, 0])
    return x, np.exp(log_mean + noise), np.exp(log_mean)


@pytest.mark.parametrize("method", ["normalised", "cqr"])
def test_adaptive_interval_is_wider_where_houses_are_harder_and_keeps_coverage(
    method: str,
) -> None:
    """Both widen where the noise is larger; the normalised one (the default) also keeps its
    coverage on the hardest fifth of the rows (CQR fitted on 800 rows does not: 0.81)."""
    x, y, point = heteroscedastic(1200, seed=1)
    folds = np.arange(len(y)) % 3
    interval = fit_interval(
        matrix=x,
        y=y,
        predictions=point,
        folds=folds,
        level=0.9,
        method=method,  # type: ignore[arg-type]
    )
    x_new, y_new, point_new = heteroscedastic(2000, seed=2)
    lower, upper = interval.bounds(x_new, point_new)
    assert np.all(lower <= point_new)
    assert np.all(point_new <= upper)
    relative = (upper - lower) / point_new
    easy, hard = x_new[:, 0] < 0.2, x_new[:, 0] > 0.8
    assert relative[hard].mean() > 2 * relative[easy].mean()  # a constant width: 1x
    inside = (y_new >= lower) & (y_new <= upper)
    assert 0.87 <= inside.mean() <= 0.94
    if method == "normalised":
        assert inside[easy].mean() >= 0.85
        assert inside[hard].mean() >= 0.85


def test_interval_models_are_the_named_kinds() -> None:
    x, y, point = heteroscedastic(200, seed=3)
    folds = np.arange(len(y)) % 2
    normalised = fit_interval(matrix=x, y=y, predictions=point, folds=folds)
    cqr = fit_interval(matrix=x, y=y, predictions=point, folds=folds, method="cqr")
    assert isinstance(normalised, NormalisedInterval)
    assert normalised.method == "normalised"
    assert isinstance(cqr, QuantileInterval)
    assert cqr.method == "cqr"


def test_each_price_third_gets_its_own_quantiles_and_coverage() -> None:
    """Label-conditional: one pair of quantiles per third of the prices (pooled when a third
    has too few rows); each third of new houses by true price is covered about the level."""
    x, y, point = heteroscedastic(1500, seed=5)
    folds = np.arange(len(y)) % 5
    interval = fit_interval(matrix=x, y=y, predictions=point, folds=folds, level=0.9)
    assert isinstance(interval, NormalisedInterval)
    assert len(interval.edges) == 2
    assert len(interval.lower_quantiles) == len(interval.upper_quantiles) == 3
    x_new, y_new, point_new = heteroscedastic(3000, seed=6)
    lower, upper = interval.bounds(x_new, point_new)
    quality = interval_quality(y_new, lower, upper, predicted=point_new, level=0.9)
    # the band the gate requires (0.921 / 0.891 / 0.926 here; 0.946 / 0.929 / 0.940 before the
    # thirds' quantiles were narrowed to the hull)
    assert all(0.87 <= c <= 0.94 for c in quality.by_third.values()), quality.by_third
    small = fit_interval(matrix=x[:150], y=y[:150], predictions=point[:150], folds=folds[:150])
    assert isinstance(small, NormalisedInterval)
    assert set(small.lower_quantiles) == {small.lower_quantile}  # 50 rows a third: pooled
    legacy = NormalisedInterval(  # as pickled before bins: the pooled pair for every row
        level=0.9, lower_quantile=small.lower_quantile, upper_quantile=small.upper_quantile,
        scale_model=small.scale_model, scale_floor=small.scale_floor,
    )  # fmt: skip
    assert np.allclose(legacy.bounds(x_new, point_new), small.bounds(x_new, point_new))


def test_each_thirds_quantiles_are_narrowed_until_the_hull_covers_it_at_the_level() -> None:
    """The hull of the prices every third accepts also takes in the neighbouring thirds' reach,
    so with each third's own quantiles every third is covered above the level. Narrowing (never
    widening) brings the outer thirds to the finite-sample level and never below it; the middle
    third, covered by both neighbours' reach whatever its own quantiles, comes down less (here
    0.927 / 0.973 / 0.930 -> 0.902 / 0.963 / 0.902 on the calibration rows)."""
    rng = np.random.default_rng(3)
    n = 1800
    centre = rng.normal(12.0, 0.2, n)  # weakly informative: many intervals span two thirds
    scale = np.full(n, 0.2)
    log_y = centre + rng.normal(0.0, 0.2, n)
    edges = tuple(float(e) for e in np.quantile(log_y, [1 / 3, 2 / 3]))
    bins = np.searchsorted(np.asarray(edges), log_y, side="right")
    own = [
        (
            conformal_quantile(-(log_y - centre)[bins == b] / 0.2, level=0.95),
            conformal_quantile((log_y - centre)[bins == b] / 0.2, level=0.95),
        )
        for b in range(3)
    ]
    cal = Calibration(centre=centre, scale=scale, log_y=log_y, bins=bins, edges=edges)
    before = [cal.third_coverage(b, own) for b in range(3)]
    narrowed = fit_hull_to_level(cal, own, 0.9)
    after = [cal.third_coverage(b, narrowed) for b in range(3)]
    target = np.ceil(601 * 0.9) / 600
    assert min(before) > target + 0.02, before  # the hull over-covers with the own quantiles
    assert all(target <= c <= b for c, b in zip(after, before, strict=True)), (before, after)
    assert max(after[0], after[2]) <= target + 0.01, after
    assert after[1] < before[1], (before, after)
    for (lo, hi), (lo0, hi0) in zip(narrowed, own, strict=True):
        assert lo + hi <= lo0 + hi0 + 1e-12  # narrower or equal, never wider


def test_interval_fit_rejects_one_fold_mismatched_rows_and_unknown_methods() -> None:
    x, y, point = heteroscedastic(100, seed=4)
    with pytest.raises(CalibrationError, match="two folds"):
        fit_interval(matrix=x, y=y, predictions=point, folds=np.zeros(100))
    with pytest.raises(CalibrationError, match="one row each"):
        fit_interval(matrix=x[:50], y=y, predictions=point, folds=np.arange(100) % 2)
    with pytest.raises(CalibrationError, match="unknown interval method"):
        fit_interval(
            matrix=x,
            y=y,
            predictions=point,
            folds=np.arange(100) % 2,
            method="magic",  # type: ignore[arg-type]
        )


def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, level=0.9) == 18.0
    assert conformal_half_width(scores, np.zeros(19), level=0.9) == 18.0
    with pytest.raises(CalibrationError, match="too few"):
        conformal_quantile(np.arange(5.0), level=0.9)


def test_price_thirds_split_rows_by_true_price_rank() -> None:
    labels = price_thirds([50.0, 10.0, 30.0, 20.0, 60.0, 40.0])
    assert labels.tolist() == ["dearest", "cheapest", "middle", "cheapest", "dearest", "middle"]


def test_interval_quality_reports_coverage_per_third_and_neighbourhood() -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    lower = np.array([9.0, 25.0, 25.0, 35.0, 45.0, 61.0])  # misses rows 2 (cheap) and 6 (dear)
    upper = y + 1.0
    predicted = np.array([60.0, 50.0, 40.0, 30.0, 20.0, 10.0])  # reversed: thirds swap
    hoods = ["A", "A", "A", "B", "B", "B"]
    quality = interval_quality(y, lower, upper, neighbourhoods=hoods, predicted=predicted)
    assert quality.coverage == pytest.approx(4 / 6)
    assert quality.by_third == {"cheapest": 0.5, "middle": 1.0, "dearest": 0.5}
    assert quality.by_predicted_third == {"cheapest": 0.5, "middle": 1.0, "dearest": 0.5}
    assert quality.by_neighbourhood == {
        "A": (pytest.approx(2 / 3), 3),
        "B": (pytest.approx(2 / 3), 3),
    }
    assert quality.mean_width == pytest.approx(np.mean(upper - lower))
    metrics = quality.as_metrics()
    assert metrics["test_coverage.third.dearest"] == 0.5
    assert metrics["test_coverage.predicted_third.middle"] == 1.0
    assert metrics["test_coverage.neighbourhood.B"] == pytest.approx(2 / 3)
    failures = third_coverage_failures(quality, low=0.85, high=0.95)
    assert len(failures) == 3
    assert "cheapest" in failures[0]
    assert "middle" in failures[1]


def test_metric_names_are_made_safe_for_mlflow() -> None:
    assert metric_name("São Paulo (Zona Sul)") == "S_o Paulo _Zona Sul_"
