"""Benchmark: valuation quality on real house sales and on the synthetic market (pure ML).

    uv run python tests/benchmarks/bench_quality.py                 # every data set, 12 trials
    uv run python tests/benchmarks/bench_quality.py --trials 30 --only ames

Per data set (``quality_data.py`` says how each maps to Valora's inputs): the hold-out split of
``valora_ml.splitting`` (the newest 20 % as test where every sale is dated, else the seeded hash
order), then side by side on the same test rows:

- the Valora champion: the trainer's Optuna search (its packaged search space, an in-memory study:
  no PostgreSQL or MLflow needed) on the fit rows, then ``valora_ml.fitting.fit_gate_model`` with
  two candidates, the search's best and the untuned defaults on log price, keeping the lower
  5-fold out-of-fold RMSE on the fit rows (market-time term under a time split, every fit row
  used, cross-conformal interval): the model the trainer's gate judges;
- its interval three ways on the same out-of-fold predictions: ``normalised`` (the default),
  ``cqr``, and the former constant width (cross-conformal absolute residual), for the choice;
- an untuned ``HistGradientBoostingRegressor`` on log price, the six inputs (neighbourhood one-hot),
  fitted on all the fit rows.

Reports RMSE, MAPE, 90 % interval coverage per price third (by true price) and mean width, the
acceptance checks (champion RMSE <= baseline's; each third in 0.85-0.95; synthetic RMSE <= 22,000)
and the served model's row count. Printed figures, no assertions: the exit code is 0.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from benchlib import emit
from quality_data import DATASETS
from scipy.stats import binomtest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits
from valora_ml.conformal import conformal_half_width
from valora_ml.features import NUMERIC_INPUTS, build_feature_pipeline
from valora_ml.fitting import (
    GateFit,
    IntervalSettings,
    fit_gate_model,
    fit_served_model,
    model_inputs,
)
from valora_ml.intervals import ConstantInterval, IntervalModel, fit_interval
from valora_ml.metrics import IntervalQuality, interval_quality, regression_metrics
from valora_ml.splitting import HoldOut, hold_out_split

# The trainer's search and estimator factory (the code path a training run takes).
from valora_trainer.config import load_config
from valora_trainer.steps.estimators import build_estimator
from valora_trainer.steps.search import BestModelSpec, create_study, run_search

TRIALS = 12
LEVEL = 0.9
SYNTHETIC_CEILING = 22_000.0
logger = logging.getLogger("bench_quality")


@dataclass(frozen=True)
class Scored:
    rmse: float
    mape: float
    quality: IntervalQuality | None = None


def search_best(split: HoldOut, trials: int) -> BestModelSpec:
    config = load_config().search
    study = create_study(study_name="bench-quality", storage=None, config=config)
    result = run_search(train=split.fit, label="price", config=config, study=study, n_trials=trials)
    return result.best


def champion_factory(best: BestModelSpec, *, market_time: bool) -> Any:
    """The trainer's ``build_model`` for ``best``, with the market-time term when dated."""

    def make() -> Pipeline:
        estimator = build_estimator(best.family, best.params, seed=42, threads=1)
        if best.log_target:
            estimator = TransformedTargetRegressor(estimator, func=np.log, inverse_func=np.exp)
        return build_feature_pipeline(estimator, market_time=market_time)

    return make


def baseline() -> Pipeline:
    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", list(NUMERIC_INPUTS)),
            ("nb", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["neighbourhood"]),
        ]
    )
    model = TransformedTargetRegressor(
        HistGradientBoostingRegressor(random_state=0), func=np.log, inverse_func=np.exp
    )
    return make_pipeline(encode, model)


def score(test: pd.DataFrame, price: Any, bounds: tuple[Any, Any] | None = None) -> Scored:
    y = test["price"].to_numpy(dtype=float)
    metrics = regression_metrics(y, price)
    quality = None
    if bounds is not None:
        hoods = test["neighbourhood"].astype(str).tolist()
        quality = interval_quality(y, *bounds, neighbourhoods=hoods, predicted=price, level=LEVEL)
    return Scored(metrics.rmse, metrics.mape, quality)


def intervals(gate: GateFit, split: HoldOut) -> dict[str, IntervalModel]:
    """The chosen interval and the alternatives, on the gate model's out-of-fold predictions."""
    pipeline = gate.model.pipeline
    matrix = np.asarray(pipeline[:-1].transform(model_inputs(split.fit)), dtype=float)
    y = split.fit["price"].to_numpy(dtype=float)
    oof = gate.out_of_fold
    cqr = fit_interval(
        matrix=matrix, y=y, predictions=oof.predictions, folds=oof.folds, level=LEVEL,
        method="cqr", seed=0,
    )  # fmt: skip
    constant = ConstantInterval(LEVEL, conformal_half_width(y, oof.predictions, level=LEVEL))
    return {"normalised": gate.model.interval_model(), "cqr": cqr, "constant": constant}


REFERENCE = BestModelSpec(family="hist_gradient_boosting", params={}, log_target=True)
"""The reference candidate: scikit-learn's defaults on log price (the trainer's estimator
factory with no parameters), beside the search's best."""


def run_dataset(name: str, trials: int) -> dict[str, Any]:
    frame = DATASETS[name]()
    split = hold_out_split(frame, test_fraction=0.2, seed=42)
    started = time.perf_counter()
    best = search_best(split, trials)
    specs = {"search best": best, "untuned HGB, log price": REFERENCE}
    settings = IntervalSettings(level=LEVEL, method="normalised", folds=5, seed=0)
    candidates = {k: champion_factory(v, market_time=split.market_time) for k, v in specs.items()}
    gate = fit_gate_model(
        candidates=candidates, fit_rows=split.fit, label="price", settings=settings,
        model_family={k: v.family for k, v in specs.items()},
    )  # fmt: skip
    valuation = gate.model.value(split.test)
    test_matrix = gate.model.features(split.test)
    scored = {
        method: score(split.test, valuation.price, model.bounds(test_matrix, valuation.price))
        for method, model in intervals(gate, split).items()
    }
    base = baseline().fit(split.fit, split.fit["price"].to_numpy(dtype=float))
    base_scored = score(split.test, base.predict(split.test))
    _, rows = fit_served_model(
        gate=gate, fit_rows=split.fit, test_rows=split.test, label="price", settings=settings
    )
    return {
        "name": name, "split": split, "best": best, "scored": scored, "baseline": base_scored,
        "chosen": gate.chosen, "candidate_rmse": gate.candidate_rmse,
        "rows": rows, "seconds": time.perf_counter() - started,
        "warnings": sum(bool(w) for w in valuation.warnings),
    }  # fmt: skip


def _thirds(q: IntervalQuality | None) -> str:
    if q is None:
        return "-"
    return " / ".join(f"{q.by_third[t]:.3f}" for t in ("cheapest", "middle", "dearest"))


def report(r: dict[str, Any]) -> None:
    name, split, scored, base = r["name"], r["split"], r["scored"], r["baseline"]
    chosen = scored["normalised"]
    assert chosen.quality is not None
    print(
        f"\n== {name}: {len(split.fit):,} fit + {len(split.test):,} test rows, {split.kind} split, "
        f"search best {r['best'].family} (log target {r['best'].log_target}), {r['seconds']:.0f} s"
    )
    oof = ", ".join(f"{k} {v:,.0f}" for k, v in r["candidate_rmse"].items())
    print(f"  champion = {r['chosen']} (out-of-fold RMSE on the fit rows: {oof})")
    print(f"  {'model / interval':28} {'RMSE':>9} {'MAPE':>7}  {'coverage cheap/mid/dear':25} "
          f"{'overall':>7} {'mean width':>11}")  # fmt: skip
    for method, s in scored.items():
        q = s.quality
        assert q is not None
        print(f"  {'champion / ' + method:28} {s.rmse:9,.0f} {s.mape:7.1%}  {_thirds(q):25} "
              f"{q.coverage:7.3f} {q.mean_width:11,.0f}")  # fmt: skip
    print(f"  {'untuned HGB, log price':28} {base.rmse:9,.0f} {base.mape:7.1%}")
    print(
        f"  by predicted-price third (what an interval can condition on): "
        f"{' / '.join(f'{v:.3f}' for v in chosen.quality.by_predicted_third.values())}"
    )
    n_third = len(split.test) // 3
    cis = []
    for share in chosen.quality.by_third.values():
        ci = binomtest(round(share * n_third), n_third).proportion_ci(0.95)
        cis.append(f"{ci.low:.2f}-{ci.high:.2f}")
    print(f"  95% CI of each third's coverage ({n_third} rows each): {' / '.join(cis)}")
    hoods = {k: v for k, v in chosen.quality.by_neighbourhood.items() if v[1] >= 20}
    if len(hoods) > 1:
        low = min(hoods.items(), key=lambda kv: kv[1][0])
        high = max(hoods.items(), key=lambda kv: kv[1][0])
        print(f"  coverage per neighbourhood (>= 20 test rows, {len(hoods)} of them): lowest "
              f"{low[0]} {low[1][0]:.3f} (n={low[1][1]}), highest {high[0]} {high[1][0]:.3f} "
              f"(n={high[1][1]})")  # fmt: skip
    thirds_ok = all(0.85 <= v <= 0.95 for v in chosen.quality.by_third.values())
    if name == "synthetic":
        verdict = f"RMSE <= {SYNTHETIC_CEILING:,.0f}: {chosen.rmse <= SYNTHETIC_CEILING}"
    else:
        verdict = f"RMSE <= baseline: {chosen.rmse <= base.rmse}"
    print(f"  acceptance: {verdict}; each third in 0.85-0.95: {thirds_ok}")
    print(f"  rows: {r['rows'].as_params()}; test rows with a range warning: {r['warnings']}")
    bench = f"valuation quality ({name}, {split.kind} split)"
    emit(
        benchmark=bench,
        metric="champion test RMSE",
        value=chosen.rmse,
        unit="",
        target=f"<= {SYNTHETIC_CEILING:,.0f}" if name == "synthetic" else f"<= {base.rmse:,.0f}",
    )
    emit(benchmark=bench, metric="untuned HGB (log price) test RMSE", value=base.rmse, unit="")
    emit(benchmark=bench, metric="champion test MAPE", value=100 * chosen.mape, unit="%")
    for third, share in chosen.quality.by_third.items():
        emit(benchmark=bench, metric=f"90% interval coverage, {third} third", value=share,
             unit="", target="0.85-0.95")  # fmt: skip
    emit(benchmark=bench, metric="mean interval width", value=chosen.quality.mean_width, unit="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--only", action="append", choices=sorted(DATASETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"bench_quality: {args.trials}-trial search per data set, 90% intervals, 1 thread")
    with threadpool_limits(limits=1):
        for name in args.only or list(DATASETS):
            report(run_dataset(name, args.trials))


if __name__ == "__main__":
    main()
