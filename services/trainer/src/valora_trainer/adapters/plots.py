"""Diagnostic plots as PNG files (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["render_plots"]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    return path


def render_plots(
    *,
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    lower: np.ndarray[Any, Any],
    upper: np.ndarray[Any, Any],
    importance: dict[str, float],
    out_dir: Path,
) -> list[Path]:
    """Residuals (with each house's interval), predicted-vs-actual and feature importance."""
    out_dir.mkdir(parents=True, exist_ok=True)
    residuals = y_true - y_pred
    written: list[Path] = []

    # ``Figure`` directly (not pyplot): no global state, Agg canvas, thread-safe.
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    order = np.argsort(y_pred)
    ax.fill_between(
        y_pred[order],
        (lower - y_pred)[order],
        (upper - y_pred)[order],
        color="red",
        alpha=0.15,
        linewidth=0,
        label="interval (per house)",
    )
    ax.scatter(y_pred, residuals, s=6, alpha=0.5)
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set(xlabel="predicted price", ylabel="residual (actual - predicted)", title="Residuals")
    ax.legend(loc="upper left")
    written.append(_save(fig, out_dir / "residuals.png"))

    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=6, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set(xlabel="actual price", ylabel="predicted price", title="Predicted vs actual")
    written.append(_save(fig, out_dir / "predicted_vs_actual.png"))

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    names = sorted(importance, key=lambda k: importance[k])
    ax.barh(names, [importance[n] for n in names])
    ax.set(xlabel="RMSE increase when permuted", title="Feature importance (permutation)")
    written.append(_save(fig, out_dir / "feature_importance.png"))
    return written
