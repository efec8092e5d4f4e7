"""Benchmark: each price third's interval coverage pooled over repeated hold-outs.

    uv run python tests/benchmarks/bench_quality_repeats.py                  # small data sets
    uv run python tests/benchmarks/bench_quality_repeats.py --only sacramento --repeats 5

One hold-out of a small data set has about 60 test rows per price third, where even an exactly
calibrated 90 % interval lands outside 0.85-0.95 about one time in five (binomial standard
deviation 0.039). This runs the quality benchmark's champion (``bench_quality.champion``: the
trainer's own steps) on ``--repeats`` hold-outs and pools each third's covered and tested rows:
for a hash split, the split seeds 42, 43, ...; for dated rows, rolling origins (the newest 0 %,
10 %, 20 %, ... of the sales cut off, then the newest 20 % of the rest held out). Also prints the
champion's and the untuned baseline's test RMSE of each hold-out, and both RMSEs over every
pooled test row. The pooled figures are the quality acceptance on the small data sets (each
third in 0.85-0.95, champion RMSE <= the untuned baseline's); ``make bench`` records them.
Printed figures, no assertions.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from bench_quality import THIRDS, baseline, champion
from benchlib import emit
from quality_data import DATASETS
from valora_ml.fitting import model_inputs
from valora_ml.metrics import price_thirds
from valora_ml.splitting import has_dates
from valora_trainer.config import load_config

SMALL = ("grinnell", "sacramento", "saratoga")


def pooled(name: str, repeats: int, trials: int) -> None:
    full = DATASETS[name]()
    dated = has_dates(full)
    covered = {t: [0, 0] for t in THIRDS}
    squared = {"champion": 0.0, "baseline": 0.0}
    tested = wins = 0
    for r in range(repeats):
        overrides: dict[str, object] = {"search": {"trials": trials}, "plots": False}
        frame = full
        if dated:
            ordered = full.sort_values(["listed_at", "listing_id"]).reset_index(drop=True)
            frame = ordered.iloc[: round(len(ordered) * (1 - 0.1 * r))].reset_index(drop=True)
        else:
            overrides["split"] = {"seed": 42 + r}
        built = champion(frame, load_config(overrides=overrides), name)
        fit, test = built["run"].data.fit, built["run"].data.test
        valued = built["gate"].model.value(model_inputs(test))
        y = test["price"].to_numpy(dtype=float)
        inside = (y >= valued.lower) & (y <= valued.upper)
        thirds = np.asarray(price_thirds(y))
        shares = []
        for t in THIRDS:
            rows = thirds == t
            covered[t][0] += int(inside[rows].sum())
            covered[t][1] += int(rows.sum())
            shares.append(f"{inside[rows].mean():.3f}")
        base = baseline().fit(fit, fit["price"].to_numpy(dtype=float)).predict(test)
        champion_rmse = float(np.sqrt(np.mean((valued.price - y) ** 2)))
        base_rmse = float(np.sqrt(np.mean((base - y) ** 2)))
        squared["champion"] += float(np.sum((valued.price - y) ** 2))
        squared["baseline"] += float(np.sum((base - y) ** 2))
        tested += len(y)
        wins += champion_rmse <= base_rmse
        print(f"  {name} hold-out {r}: {len(test)} test rows, thirds {' / '.join(shares)}, "
              f"RMSE {champion_rmse:,.0f} (untuned {base_rmse:,.0f})", flush=True)  # fmt: skip
    summary = " / ".join(f"{k / n:.3f} ({k}/{n})" for k, n in covered.values())
    print(f"== {name}: pooled coverage cheapest / middle / dearest: {summary}", flush=True)
    rmse = {who: float(np.sqrt(total / tested)) for who, total in squared.items()}
    thirds_ok = all(0.85 <= k / n <= 0.95 for k, n in covered.values())
    print(f"== {name}: pooled RMSE {rmse['champion']:,.0f} (untuned {rmse['baseline']:,.0f}); "
          f"champion <= untuned on {wins} of {repeats} hold-outs; acceptance: RMSE <= untuned: "
          f"{rmse['champion'] <= rmse['baseline']}; each third in 0.85-0.95: {thirds_ok}",
          flush=True)  # fmt: skip
    split = "rolling time origins" if dated else "hash seeds"
    bench = f"valuation quality pooled ({name}, {repeats} hold-outs, {split})"
    emit(benchmark=bench, metric="champion test RMSE, every pooled row", value=rmse["champion"],
         unit="", target=f"<= {rmse['baseline']:,.0f}")  # fmt: skip
    emit(benchmark=bench, metric="untuned HGB (log price) test RMSE, every pooled row",
         value=rmse["baseline"], unit="")  # fmt: skip
    for third, (k, n) in covered.items():
        emit(benchmark=bench, metric=f"90% interval coverage, {third} third ({n} rows)",
             value=k / n, unit="", target="0.85-0.95")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--only", action="append", choices=sorted(DATASETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in args.only or SMALL:
        pooled(name, args.repeats, args.trials)


if __name__ == "__main__":
    main()
