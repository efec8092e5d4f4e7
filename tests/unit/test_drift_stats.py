"""Drift statistics (valora_ml.drift) checked against scipy.stats on known samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from valora_ml.drift import (
    adjust_p_values,
    benjamini_hochberg,
    bin_counts,
    categorical_drift,
    chi2_homogeneity,
    compare_window,
    holm,
    ks_binned,
    numeric_drift,
    psi,
)
from valora_ml.profile import build_reference_profile, profile_categorical, profile_numeric
from valora_ml.synthetic import DriftSpec, generate_listings

pytestmark = pytest.mark.unit


def test_psi_matches_the_textbook_formula() -> None:
    ref = np.array([0.25, 0.25, 0.25, 0.25])
    cur = np.array([0.1, 0.2, 0.3, 0.4])
    expected = float(np.sum((cur - ref) * np.log(cur / ref)))
    assert psi(ref, cur) == pytest.approx(expected)
    assert psi(ref, ref) == 0.0
    # PSI is the symmetrised KL divergence: KL(c||r) + KL(r||c)
    assert psi(ref, cur) == pytest.approx(stats.entropy(cur, ref) + stats.entropy(ref, cur))


def test_psi_of_an_empty_bin_is_large_but_finite() -> None:
    value = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(value)
    assert value > 1.0


def test_bin_counts_use_the_profile_binning() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=5000)
    profile = profile_numeric(ref, bins=10)
    counts = bin_counts(ref, profile.cuts)
    assert counts.sum() == ref.size
    np.testing.assert_allclose(counts / ref.size, profile.frequencies)


@pytest.mark.parametrize(("shift", "n"), [(0.0, 1000), (0.1, 1000), (0.5, 300), (0.0, 20_000)])
def test_binned_ks_equals_scipy_ks_2samp_on_discretised_samples(shift: float, n: int) -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=8000)
    cur = rng.normal(loc=shift, size=n)
    profile = profile_numeric(ref, bins=10)
    result = ks_binned(profile.frequencies, bin_counts(cur, profile.cuts), n_reference=ref.size)
    cuts = np.asarray(profile.cuts)
    expected = stats.ks_2samp(
        np.searchsorted(cuts, ref, side="right"),
        np.searchsorted(cuts, cur, side="right"),
        method="asymp",
    )
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_binned_ks_is_a_lower_bound_of_the_continuous_statistic() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=5000), rng.normal(loc=0.2, size=1000)
    profile = profile_numeric(ref, bins=10)
    binned = ks_binned(profile.frequencies, bin_counts(cur, profile.cuts), n_reference=ref.size)
    assert binned.statistic <= stats.ks_2samp(ref, cur).statistic + 1e-12


def test_chi2_homogeneity_equals_scipy_chi2_contingency() -> None:
    ref = np.array([150, 250, 200, 200, 200])
    cur = np.array([30, 20, 25, 15, 10])
    result = chi2_homogeneity(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_categorical_drift_counts_unseen_categories_and_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    names = np.array(["A", "B", "C"])
    ref = rng.choice(names, size=4000, p=[0.5, 0.3, 0.2])
    cur = [*rng.choice(names, size=900, p=[0.5, 0.3, 0.2]).tolist(), *(["NEW"] * 100)]
    profile = profile_categorical(ref.tolist())
    result = categorical_drift("hood", profile, cur, n_reference=ref.size)
    assert result.labels == ["A", "B", "C", "NEW"]
    assert result.current[-1] == pytest.approx(0.1)
    ref_counts = [int((ref == c).sum()) for c in ("A", "B", "C")] + [0]
    cur_counts = [cur.count(c) for c in ("A", "B", "C", "NEW")]
    expected = stats.chi2_contingency(np.array([ref_counts, cur_counts]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_holm_and_bh_adjustments() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm by hand: sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p).tolist())
    assert adjust_p_values(p, "none") == p
    assert holm([]) == []


def _profile(n: int = 20_000, seed: int = 11):  # type: ignore[no-untyped-def]
    frame = generate_listings(n, seed=seed)
    return build_reference_profile(frame, frame["price"].to_numpy(), bins=10)


def _window(n: int, seed: int, drift: DriftSpec | None = None) -> dict[str, object]:
    frame = generate_listings(n, seed=seed, drift=drift)
    return {
        "numeric": {c: frame[c].to_numpy() for c in ("area", "bedrooms", "bathrooms", "age")},
        "categorical": {"neighbourhood": frame["neighbourhood"].tolist()},
    }


def test_no_drift_windows_rarely_look_significant_and_never_large() -> None:
    profile = _profile()
    flagged = 0
    for seed in range(100, 140):
        results = compare_window(profile, **_window(1000, seed))  # type: ignore[arg-type]
        assert max(r.psi for r in results) < 0.05
        flagged += sum(r.p_adjusted < 0.01 for r in results)
    assert flagged <= 2  # Holm at 1% family-wise: ~0.4 expected over 40 windows


def test_area_shift_is_large_and_significant() -> None:
    profile = _profile()
    results = compare_window(profile, **_window(1000, 1, DriftSpec(shift={"area": 1.3})))  # type: ignore[arg-type]
    by = {r.feature: r for r in results}
    assert by["area"].psi > 0.25
    assert by["area"].p_adjusted < 1e-10
    assert by["neighbourhood"].psi < 0.05


def test_a_huge_window_makes_trivial_shifts_significant_but_psi_stays_small() -> None:
    profile = _profile(n=50_000)
    results = compare_window(
        profile,
        **_window(200_000, 2, DriftSpec(shift={"area": 1.02})),  # type: ignore[arg-type]
    )
    area = next(r for r in results if r.feature == "area")
    assert area.p_adjusted < 0.01  # the test alone would page ...
    assert area.psi < 0.1  # ... the effect size says it does not matter


def test_numeric_drift_reports_labels_and_shares() -> None:
    profile = profile_numeric(np.arange(100.0), bins=4)
    result = numeric_drift("x", profile, np.arange(100.0), n_reference=100)
    assert len(result.labels) == len(result.reference) == len(result.current)
    assert result.psi == pytest.approx(0.0)
    assert result.labels[0].startswith("<")
