"""The quality gate: absolute thresholds, then no worse than the champion on the same rows."""

from __future__ import annotations

from dataclasses import dataclass

from valora_contracts import GateResult, ModelMetrics

from valora_trainer.config import GateConfig

__all__ = ["ChampionScore", "evaluate_gate"]


@dataclass(frozen=True)
class ChampionScore:
    """The current champion's RMSE on the challenger's test rows."""

    version: str
    rmse: float


def evaluate_gate(
    *, metrics: ModelMetrics, config: GateConfig, champion: ChampionScore | None
) -> GateResult:
    reasons: list[str] = []
    if config.max_rmse is not None and metrics.rmse > config.max_rmse:
        reasons.append(f"rmse {metrics.rmse:.2f} > max_rmse {config.max_rmse:.2f}")
    if config.max_mape is not None and metrics.mape > config.max_mape:
        reasons.append(f"mape {metrics.mape:.4f} > max_mape {config.max_mape:.4f}")
    if config.min_r2 is not None and metrics.r2 < config.min_r2:
        reasons.append(f"r2 {metrics.r2:.4f} < min_r2 {config.min_r2:.4f}")
    if config.min_coverage is not None and metrics.interval_coverage < config.min_coverage:
        reasons.append(
            f"interval coverage {metrics.interval_coverage:.3f} < min_coverage "
            f"{config.min_coverage:.3f}"
        )
    if champion is not None:
        limit = champion.rmse * (1.0 + config.champion_margin)
        if metrics.rmse > limit:
            reasons.append(
                f"rmse {metrics.rmse:.2f} worse than champion v{champion.version} "
                f"({champion.rmse:.2f}) by more than {config.champion_margin:.1%}"
            )
    return GateResult(
        passed=not reasons,
        reasons=reasons,
        champion_version=champion.version if champion else None,
        champion_rmse=champion.rmse if champion else None,
    )
