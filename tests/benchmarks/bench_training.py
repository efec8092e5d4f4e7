"""Benchmark: a 30-trial Optuna search on 10,000 synthetic listings (target <= 5 minutes).

    uv run python tests/benchmarks/bench_training.py                   # study in the stack's DB
    uv run python tests/benchmarks/bench_training.py --storage memory  # in-memory Optuna storage

Uses the trainer's packaged search space and settings (3-fold CV, median pruner, TPE, one
thread per fit) and prints the wall time, trial counts and the best CV RMSE.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid

from benchlib import emit
from valora_ml.synthetic import generate_listings
from valora_trainer.adapters.study_storage import optuna_storage
from valora_trainer.config import load_config
from valora_trainer.domain.search import create_study, run_search
from valora_trainer.settings import TrainerSettings

ROWS = 10_000
TRIALS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", choices=["memory", "postgres"], default="postgres")
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = load_config()
    frame = generate_listings(args.rows, seed=1)
    frame.insert(0, "listing_id", [f"b{i:06d}" for i in range(len(frame))])
    storage = None
    if args.storage == "postgres":
        storage = optuna_storage(TrainerSettings().sync_database_url)
    study = create_study(
        study_name=f"bench-{uuid.uuid4().hex[:8]}", storage=storage, config=config.search
    )
    started = time.perf_counter()
    result = run_search(
        train=frame, label="price", config=config.search, study=study, n_trials=args.trials
    )
    elapsed = time.perf_counter() - started
    print(
        f"bench_training: {args.trials}-trial search on {args.rows:,} rows "
        f"({config.search.cv_folds}-fold CV, storage={args.storage}, "
        f"threads={config.search.threads})"
    )
    print(f"  wall time        {elapsed:8.1f} s  (target <= 300 s)")
    print(f"  completed/pruned {result.completed}/{result.pruned}")
    print(f"  best CV RMSE     {result.best_value:8.0f}  ({result.best.family})")
    emit(
        benchmark="trainer (Optuna search)",
        metric=f"{args.trials}-trial search on {args.rows:,} rows, study in {args.storage}",
        value=elapsed,
        unit="s",
        target="<= 300",
    )
    emit(
        benchmark="trainer (Optuna search)",
        metric="best cross-validated RMSE (noise floor 20,000)",
        value=result.best_value,
        unit="",
    )


if __name__ == "__main__":
    main()
