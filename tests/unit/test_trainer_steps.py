"""Trainer steps, each alone, on small data: config, snapshot, split, search, gate, store rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from valora_contracts import ListingFeatures, ModelMetrics, SaleObserved, ValidatedListing
from valora_ml.synthetic import generate_listings
from valora_trainer.adapters.plots import render_plots
from valora_trainer.adapters.training_store import listing_rows, sale_rows
from valora_trainer.config import GateConfig, load_config
from valora_trainer.domain.dataset import DataSplit, describe_snapshot, split_frame
from valora_trainer.domain.estimators import BestModelSpec
from valora_trainer.domain.gate import ChampionScore, evaluate_gate
from valora_trainer.domain.search import create_study, run_search
from valora_trainer.entrypoints.handlers import decode_records
from valora_trainer.errors import ConfigError, InsufficientDataError
from valora_trainer.settings import TrainerSettings

pytestmark = pytest.mark.unit


def store_frame(n: int, *, timed: bool = False, seed: int = 0) -> pd.DataFrame:
    frame = generate_listings(n, seed=seed)
    frame.insert(0, "listing_id", [f"l{i:04d}" for i in range(n)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    frame["listed_at"] = [start + timedelta(hours=i) for i in range(n)] if timed else pd.NaT
    frame["source"] = "unit"
    return frame


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
        load_config(overrides={"split": {"test_fraction": 0.5, "calibration_fraction": 0.45}})


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


def test_split_is_time_ordered_when_timestamps_exist() -> None:
    frame = store_frame(100, timed=True).sample(frac=1.0, random_state=3)
    split = split_frame(frame, calibration_fraction=0.2, test_fraction=0.2, seed=1)
    assert split.strategy == "time"
    assert (len(split.train), len(split.calibration), len(split.test)) == (60, 20, 20)
    assert split.train["listed_at"].max() < split.calibration["listed_at"].min()
    assert split.calibration["listed_at"].max() < split.test["listed_at"].min()


def test_random_split_is_seeded_and_disjoint() -> None:
    frame = store_frame(100)
    a = split_frame(frame, calibration_fraction=0.2, test_fraction=0.2, seed=1)
    b = split_frame(frame.iloc[::-1], calibration_fraction=0.2, test_fraction=0.2, seed=1)
    assert a.strategy == "random"
    assert list(a.test["listing_id"]) == list(b.test["listing_id"])
    ids = [*a.train["listing_id"], *a.calibration["listing_id"], *a.test["listing_id"]]
    assert len(set(ids)) == 100
    with pytest.raises(InsufficientDataError):
        split_frame(frame.head(5), calibration_fraction=0.2, test_fraction=0.2, seed=1)


def test_random_split_keeps_each_listings_part_as_the_store_grows() -> None:
    """A listing that trained one snapshot's model never tests a later snapshot's: the gate
    scores the champion on the challenger's test rows, which the champion must not have seen."""
    grown = store_frame(3_000, seed=5)

    def split(n: int) -> DataSplit:
        return split_frame(grown.head(n), calibration_fraction=0.15, test_fraction=0.2, seed=42)

    first = split(2_000)
    for n in (2_050, 2_300, 3_000):
        later = split(n)
        assert not set(first.train["listing_id"]) & set(later.test["listing_id"])
        assert not set(first.test["listing_id"]) & set(later.train["listing_id"])
        assert len(later.test) == round(n * 0.2)
        new_rows = set(grown["listing_id"].iloc[2_000:n])
        assert new_rows & set(later.test["listing_id"])  # new listings are tested too


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
    assert evaluate_gate(metrics=_metrics(), config=config, champion=None).passed
    bad = evaluate_gate(
        metrics=_metrics(r2=0.1, mape=0.5, interval_coverage=0.5), config=config, champion=None
    )
    assert not bad.passed
    assert len(bad.reasons) == 3
    champ = ChampionScore(version="3", rmse=19_700.0)
    within = evaluate_gate(metrics=_metrics(), config=config, champion=champ)  # +1.5%
    assert within.passed
    assert within.champion_version == "3"
    worse = evaluate_gate(metrics=_metrics(rmse=20_200.0), config=config, champion=champ)
    assert not worse.passed
    assert "champion v3" in worse.reasons[0]


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
    import numpy as np

    y = np.linspace(1e5, 5e5, 50)
    paths = render_plots(
        y_true=y,
        y_pred=y * 1.01,
        half_width=1e4,
        importance={"area": 3.0, "age": 1.0},
        out_dir=tmp_path,
    )
    assert [p.name for p in paths] == [
        "residuals.png",
        "predicted_vs_actual.png",
        "feature_importance.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
