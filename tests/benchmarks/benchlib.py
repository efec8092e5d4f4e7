"""Shared by the benchmark scripts: one machine-readable line per figure.

Each figure is printed as ``BENCH_JSON {...}`` beside the human-readable output; ``report.py``
collects them into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json


def emit(
    *, benchmark: str, metric: str, value: float, unit: str, target: str | None = None
) -> None:
    """Print one figure for the report (``target`` is a human-readable goal, e.g. ``>= 5,000``)."""
    record = {
        "benchmark": benchmark,
        "metric": metric,
        "value": value,
        "unit": unit,
        "target": target,
    }
    print("BENCH_JSON " + json.dumps(record), flush=True)
