"""Trainer steps, each alone, on small data: config, snapshot, search, candidates, gate, store
rows, plots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from trainer_fakes import store_frame
from valora_contracts import ListingFeatures, ModelMetrics, SaleObserved, ValidatedListing
from valora_ml.metrics import interval_quality
from valora_trainer.adapters.plots import render_plots
from valora_trainer.adapters.training_store import listing_rows, sale_rows
from valora_trainer.config import CandidateSpec, GateConfig, load_config
from valora_trainer.domain.dataset import describe_snapshot
from valora_trainer.domain.estimators import BestModelSpec, candidate_factories
from valora_trainer.domain.gate import (
    ChampionScore,
    champion_out_of_sample,
    evaluate_gate,
    score_champion,
)
from valora_trainer.domain.search import create_study, run_search
from valora_trainer.entrypoints.handlers import decode_records
from valora_trainer.errors import ConfigError
from valora_trainer.settings import TrainerSettings

pytestmark = pytest.mark.unit


def test_default_config_loads_and_overrides_merge(tmp_path: Path) -> None:
    config = load_config()
    assert set(config.search.families) == {"random_forest", "hist_gradient_boosting"}
    override = tmp_path / "t.yaml"
    override.write_text("search:\n  trials: 3\ngate:\n  min_r2: 0.9\n")
    merged = load_config(override, overrides={"triggers": {"new_labels": 7}})
    assert merged.search.trials == 3
    assert merged.gate.min_r2 == 0.9
    assert merged.triggers.new_labels == 7
    assert merged.search.cv_folds == config.search.cv_folds
    with pytest.raises(ConfigError):
        load_config(overrides={"search": {"families": {"svm": {}}}})
    with pytest.raises(ConfigError):
        load_config(overrides={"split": {"test_fraction": 0.6}})
    with pytest.raises(ConfigError):  # no calibration rows any more: cross-conformal
        load_config(overrides={"split": {"calibration_fraction": 0.15}})
    with pytest.raises(ConfigError):
        load_config(overrides={"gate": {"third_coverage": [0.95, 0.85]}})
    with pytest.raises(ConfigError):
        load_config(overrides={"candidates": {"x": {"family": "svm"}}})
    assert config.gate.third_coverage == (0.85, 0.95)
    assert config.interval.method == "normalised"
    assert list(config.candidates) == ["untuned_hgb_log_price"]


def test_settings_derive_the_sync_database_url() -> None:
    settings = TrainerSettings(
        database_url="postgresql+asyncpg://u:p@db:5432/valora", model_name="m"
    )
    assert settings.sync_database_url == "postgresql+psycopg://u:p@db:5432/valora"
    assert settings.experiment_name == "valora-training/m"
    assert settings.trainer_port == 8103


def test_snapshot_hash_is_order_independent_and_content_sensitive() -> None:
    frame = store_frame(50, timed=True)
    a = describe_snapshot(frame)
    b = describe_snapshot(frame.sample(frac=1.0, random_state=1))
    assert a.content_hash == b.content_hash
    assert a.rows == 50
    assert a.listed_from == datetime(2025, 1, 1, tzinfo=UTC)
    changed = frame.copy()
    changed.loc[0, "price"] += 1
    assert describe_snapshot(changed).content_hash != a.content_hash
    assert describe_snapshot(store_frame(5)).listed_from is None


def test_search_explores_both_families_and_returns_the_best() -> None:
    config = load_config(
        overrides={
            "search": {
                "trials": 4,
                "cv_folds": 2,
                "families": {
                    "random_forest": {
                        "n_estimators": {"type": "int", "low": 10, "high": 20, "step": 10}
                    },
                    "hist_gradient_boosting": {
                        "max_iter": {"type": "int", "low": 10, "high": 30, "step": 10}
                    },
                },
            }
        }
    )
    study = create_study(study_name="unit", storage=None, config=config.search)
    progress: list[int] = []
    result = run_search(
        train=store_frame(120),
        label="price",
        config=config.search,
        study=study,
        n_trials=4,
        on_progress=lambda p: progress.append(p.done),
    )
    assert progress == [1, 2, 3, 4]
    assert result.completed + result.pruned == 4
    trials = result.trials
    assert set(trials["params_family"]) == {"random_forest", "hist_gradient_boosting"}
    complete = trials[trials["state"] == "COMPLETE"]
    best = complete.loc[complete["value"].idxmin()]
    assert result.best_value == best["value"]
    assert result.best.family == best["params_family"]


def test_best_model_spec_strips_family_prefixes() -> None:
    spec = BestModelSpec.from_optuna(
        {
            "family": "random_forest",
            "random_forest.max_depth": 5,
            "hist_gradient_boosting.max_iter": 9,
            "log_target": True,
        }
    )
    assert spec == BestModelSpec("random_forest", {"max_depth": 5}, True)


def _metrics(**kw: float) -> ModelMetrics:
    base = {
        "rmse": 20_000.0,
        "mae": 15_000.0,
        "mape": 0.05,
        "r2": 0.95,
        "interval_coverage": 0.9,
        "n_train": 100,
        "n_test": 20,
    }
    return ModelMetrics.model_validate({**base, **kw})


def test_gate_absolute_thresholds_and_champion_margin() -> None:
    config = GateConfig(
        max_rmse=30_000, max_mape=0.2, min_r2=0.6, min_coverage=0.8, champion_margin=0.02
    )
    assert evaluate_gate(metrics=_metrics(), quality=None, config=config, champion=None).passed
    bad = evaluate_gate(
        metrics=_metrics(r2=0.1, mape=0.5, interval_coverage=0.5),
        quality=None,
        config=config,
        champion=None,
    )
    assert not bad.passed
    assert len(bad.reasons) == 3
    champ = ChampionScore(version="3", rmse=19_700.0, challenger_rmse=20_000.0, rows=300)
    within = evaluate_gate(metrics=_metrics(), quality=None, config=config, champion=champ)
    assert within.passed  # +1.5%
    assert within.champion_version == "3"
    worse = ChampionScore(version="3", rmse=19_700.0, challenger_rmse=20_200.0, rows=300)
    rejected = evaluate_gate(metrics=_metrics(), quality=None, config=config, champion=worse)
    assert not rejected.passed
    assert "champion v3" in rejected.reasons[0]
    assert "same 300 test rows" in rejected.reasons[0]


def test_gate_requires_each_price_thirds_coverage_within_the_band() -> None:
    y = np.arange(1.0, 301.0) * 1000
    lower, upper = y * 0.9, y * 1.1
    lower[:40] = y[:40] * 1.01  # 40 of the cheapest 100 missed: that third covers 0.60
    lower[100:110] = y[100:110] * 1.01  # the middle third covers 0.90, the dearest 1.00
    quality = interval_quality(y, lower, upper, level=0.9)
    config = GateConfig(third_coverage=(0.85, 0.95))
    result = evaluate_gate(metrics=_metrics(), quality=quality, config=config, champion=None)
    assert not result.passed
    assert len(result.reasons) == 2  # too narrow for cheap houses, too wide for dear ones
    assert "0.600 of the cheapest third" in result.reasons[0]
    assert "1.000 of the dearest third" in result.reasons[1]
    off = GateConfig(third_coverage=None)
    assert evaluate_gate(metrics=_metrics(), quality=quality, config=off, champion=None).passed


def test_a_third_just_outside_the_band_on_few_rows_is_sampling_noise() -> None:
    """0.96 of 200 rows: the 80% interval (0.94-0.98) overlaps the band, so it passes unless
    the band is applied literally; 0.80 of 200 rows fails either way."""
    y = np.arange(1.0, 601.0) * 1000
    lower, upper = y * 0.9, y * 1.1
    lower[400:408] = y[400:408] * 1.01  # the dearest third covers 192/200 = 0.96
    lower[:40] = y[:40] * 1.01  # the cheapest covers 160/200 = 0.80
    lower[200:220] = y[200:220] * 1.01  # the middle 0.90
    quality = interval_quality(y, lower, upper, level=0.9)
    judged = GateConfig(third_coverage=(0.85, 0.95), third_coverage_confidence=0.8)
    literal = GateConfig(third_coverage=(0.85, 0.95), third_coverage_confidence=None)
    reasons = evaluate_gate(metrics=_metrics(), quality=quality, config=judged, champion=None)
    assert [r.split(" of the ")[1].split()[0] for r in reasons.reasons] == ["cheapest"]
    assert "200 rows" in reasons.reasons[0]
    strict = evaluate_gate(metrics=_metrics(), quality=quality, config=literal, champion=None)
    assert len(strict.reasons) == 2


def test_champion_predictions_count_only_rows_it_never_learnt_from() -> None:
    """New rows: its served model; its own test rows: its logged predictions; rows it was
    fitted on: none."""
    seen = champion_out_of_sample(
        ["new", "its-test", "its-fit"],
        snapshot_ids={"its-test", "its-fit"},
        logged={"its-test": 5.0, "elsewhere": 1.0},
    )
    assert seen.unseen.tolist() == [True, False, False]
    assert np.isnan(seen.logged[[0, 2]]).all()
    assert seen.logged[1] == 5.0
    unknown = champion_out_of_sample(["a", "b"], snapshot_ids=None, logged={})
    assert unknown.unseen.tolist() == [True, True]


def test_too_few_comparison_rows_fall_back_to_the_logged_rmse_or_none() -> None:
    y = np.array([10.0, 20.0, 30.0])
    champion = np.array([11.0, np.nan, 29.0])
    both = score_champion(
        version="1", y_true=y, challenger=y + 2, champion=champion, min_rows=2,
        logged_rmse=None, challenger_test_rmse=9.0,
    )  # fmt: skip
    assert both is not None
    assert (both.rows, both.rmse, both.challenger_rmse) == (2, 1.0, 2.0)
    logged = score_champion(
        version="1", y_true=y, challenger=y, champion=champion, min_rows=3,
        logged_rmse=4.0, challenger_test_rmse=9.0,
    )  # fmt: skip
    assert logged is not None
    assert (logged.rows, logged.rmse, logged.challenger_rmse) == (0, 4.0, 9.0)
    assert "logged test RMSE" in logged.basis
    none = score_champion(
        version="1", y_true=y, challenger=y, champion=champion, min_rows=3,
        logged_rmse=None, challenger_test_rmse=9.0,
    )  # fmt: skip
    assert none is None


def test_candidates_are_the_search_best_first_then_the_fixed_ones() -> None:
    best = BestModelSpec("random_forest", {"n_estimators": 10}, False)
    fixed = {"untuned": CandidateSpec(family="hist_gradient_boosting", log_target=True)}
    made = candidate_factories(best, fixed, market_time=True, seed=1, threads=1)
    assert list(made) == ["search", "untuned"]
    pipeline = made["untuned"]()
    assert pipeline.named_steps["derive"].market_time
    assert pipeline.named_steps["model"].regressor.max_iter == 100  # scikit-learn's default
    with pytest.raises(ConfigError):
        candidate_factories(
            best, {"search": fixed["untuned"]}, market_time=False, seed=1, threads=1
        )


def _listing(i: int, *, price: float | None = 100_000.0, source: str = "s") -> ValidatedListing:
    return ValidatedListing(
        listing_id=f"id{i}",
        source=source,
        ingested_at=datetime.now(UTC),
        features=ListingFeatures(
            area=80, bedrooms=2, bathrooms=1, age=3, garage=1, neighbourhood="Centro"
        ),
        price=price,
        content_hash=f"h{i}",
        contract_version="1",
    )


def test_listing_rows_keep_labelled_allowed_sources_and_last_event() -> None:
    events = [
        _listing(1),
        _listing(2, price=None),
        _listing(3, source="other"),
        _listing(1, price=150_000.0),
    ]
    rows = listing_rows(events, sources=["s"])
    assert [(r["listing_id"], r["price"]) for r in rows] == [("id1", 150_000.0)]
    assert len(listing_rows(events)) == 2


def test_sale_rows_keep_the_latest_sale() -> None:
    t = datetime.now(UTC)
    rows = sale_rows(
        [
            SaleObserved(listing_id="a", sale_price=1.0, sold_at=t),
            SaleObserved(listing_id="a", sale_price=2.0, sold_at=t - timedelta(days=1)),
        ]
    )
    assert [r["sale_price"] for r in rows] == [1.0]


def test_decode_records_separates_undecodable_records() -> None:
    good = _listing(1).model_dump_json().encode()
    records = [
        SimpleNamespace(value=v, key=b"k", topic="t", partition=0, offset=i)
        for i, v in enumerate([good, b"{not json"])
    ]
    decoded = decode_records(records, ValidatedListing)
    assert [e.listing_id for e in decoded.events] == ["id1"]
    assert [f.offset for f in decoded.failed] == [1]


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    y = np.linspace(1e5, 5e5, 50)
    paths = render_plots(
        y_true=y,
        y_pred=y * 1.01,
        lower=y * 0.9,
        upper=y * 1.1,
        importance={"area": 3.0, "age": 1.0},
        out_dir=tmp_path,
    )
    assert [p.name for p in paths] == [
        "residuals.png",
        "predicted_vs_actual.png",
        "feature_importance.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
