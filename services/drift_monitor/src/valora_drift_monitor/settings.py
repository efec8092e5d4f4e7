"""Settings of the drift monitor (``VALORA_DRIFT_*`` plus the shared Kafka knobs).

Windows, thresholds, hysteresis levels and cooldowns live here, never in code.
"""

from __future__ import annotations

import socket
from typing import ClassVar, Literal

from pydantic import Field, model_validator
from valora_messaging import KafkaSettings
from valora_settings import Resource

from valora_drift_monitor.domain.alert_plan import RetrainPolicy
from valora_drift_monitor.domain.alerting import AlertPolicy, Levels
from valora_drift_monitor.domain.shadow import ShadowPolicy
from valora_drift_monitor.domain.statistics import Thresholds
from valora_drift_monitor.domain.windows import WindowPolicy

__all__ = ["DriftSettings"]

PerformanceStatistic = Literal["mae", "mape"]


def _default_statistics() -> list[PerformanceStatistic]:
    return ["mape"]


class DriftSettings(KafkaSettings):
    """Knobs of the drift monitor."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"kafka", "database", "mlflow"})

    service_name: str = Field(default="drift-monitor", description="Name in logs and metrics.")
    kafka_batch_max_records: int = Field(
        default=2000, ge=1, description="Records handed to a batch handler at most."
    )
    drift_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    drift_port: int = Field(default=8105, ge=0, le=65535, description="HTTP port.")
    drift_group_id: str = Field(default="valora-drift-monitor", description="Consumer group.")
    drift_replica_id: str | None = Field(
        default=None, description="Name of this replica in stored windows. Default: hostname."
    )

    # windows (tumbling, per replica; by count and by event time)
    drift_window_size: int = Field(default=1000, ge=10, description="Listings per data window.")
    drift_window_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A data window also closes once it spans this much event time (and holds "
        "at least drift_window_min_size listings).",
    )
    drift_window_min_size: int = Field(
        default=200, ge=10, description="Fewest events a time-closed window is evaluated with."
    )
    drift_prediction_window_size: int = Field(
        default=1000, ge=10, description="Predictions per prediction-drift window."
    )
    drift_dedupe_ids: int = Field(
        default=50_000,
        ge=1,
        description="Event ids remembered per input stream (listings, predictions) so a "
        "redelivered event is counted once: at least the last this-many (and at least a "
        "window's worth), at most twice as many held (about 100 bytes each).",
    )

    # data / prediction drift: corrected test AND effect size must agree
    drift_correction: Literal["holm", "bh", "none"] = Field(
        default="holm",
        description="Multiple-testing correction across the features of a window: holm "
        "(family-wise error), bh (Benjamini-Hochberg, false discovery rate) or none.",
    )
    drift_alpha: float = Field(
        default=0.01, gt=0, lt=1, description="Significance level of the corrected p-value."
    )
    drift_psi_warning: float = Field(default=0.1, gt=0, description="PSI that fires a warning.")
    drift_psi_critical: float = Field(default=0.25, gt=0, description="PSI that fires critical.")
    drift_psi_resolve: float = Field(
        default=0.05, ge=0, description="PSI below which a firing alert clears (hysteresis)."
    )

    # realised performance
    drift_performance_window_size: int = Field(
        default=500, ge=10, description="Most recent joined predictions in the rolling window."
    )
    drift_performance_window_seconds: float = Field(
        default=30 * 86400.0, gt=0, description="Joined predictions older than this drop out."
    )
    drift_performance_min_size: int = Field(
        default=200, ge=1, description="Fewest joined predictions a window is judged on."
    )
    drift_performance_segment_min_size: int = Field(
        default=100, ge=1, description="Fewest joined predictions per neighbourhood segment."
    )
    drift_performance_statistics: list[PerformanceStatistic] = Field(
        default_factory=_default_statistics, description="Metrics compared with the test metrics."
    )
    drift_performance_segments: bool = Field(
        default=True, description="Also judge each neighbourhood (inhibited by the overall)."
    )
    drift_performance_warning_ratio: float = Field(
        default=1.5, gt=1, description="Realised / test metric that fires a warning."
    )
    drift_performance_critical_ratio: float = Field(
        default=2.0, gt=1, description="Realised / test metric that fires critical."
    )
    drift_performance_resolve_ratio: float = Field(
        default=1.2, gt=0, description="Realised / test metric below which the alert clears."
    )
    drift_estimated_error_factor: float = Field(
        default=1.5,
        gt=0,
        description="Mean estimated absolute error of a prediction window / the model's test MAE "
        "above which the EstimatedErrorAboveTest alert fires (exported as a gauge).",
    )
    drift_estimate_min_priced: int = Field(
        default=30,
        ge=1,
        description="Streamed listings with an asking price a prediction window needs before "
        "its error estimate is taken at the market level they show (median asking / predicted); "
        "with fewer, the estimate is the error model's alone.",
    )
    drift_listing_labels: bool = Field(
        default=True,
        description="Use the price of a validated listing that arrives after a prediction of "
        "the same listing as its realised price (a sale always wins).",
    )

    # alert lifecycle
    drift_resolve_after: int = Field(
        default=2, ge=1, description="Consecutive clear evaluations before a resolve."
    )
    drift_cooldown_s: float = Field(
        default=3600.0,
        ge=0,
        description="No new firing notification for a condition within this long of its last "
        "one (an escalation warning->critical is always sent).",
    )
    drift_auto_retrain: bool = Field(
        default=False, description="Publish TrainingRequested(reason=drift) on a critical alert."
    )
    drift_retrain_cooldown_s: float = Field(
        default=6 * 3600.0, ge=0, description="At most one drift retrain request this often."
    )

    # plumbing
    drift_reference_poll_s: float = Field(
        default=30.0, gt=0, description="How often to look for a champion while there is none."
    )
    drift_outbox_interval_s: float = Field(
        default=10.0, gt=0, description="How often unpublished outbox events are re-sent."
    )
    drift_outbox_grace_s: float = Field(
        default=30.0, ge=0, description="Age before an unpublished outbox event is re-sent."
    )
    drift_retention_days: float = Field(
        default=90.0, gt=0, description="Predictions, sales and outcomes kept this long."
    )
    drift_db_pool_size: int = Field(default=5, ge=1, description="PostgreSQL connections.")
    drift_shadow_min_sales: int = Field(
        default=100,
        ge=5,
        description="Paired realised sales per planned look at a shadow challenger (the first "
        "decision needs this many; look k uses the first k x this many).",
    )
    drift_shadow_looks: int = Field(
        default=5, ge=1, le=100, description="Planned looks at a challenger before retiring it."
    )
    drift_shadow_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Chance of a wrong decision on a challenger no better or worse than the "
        "champion, over all its looks (each look is tested at alpha / looks).",
    )
    drift_shadow_timeout_s: float = Field(
        default=14 * 86_400.0, gt=0, description="A challenger undecided this long is retired."
    )
    drift_shadow_check_s: float = Field(
        default=60.0, gt=0, description="How often undecided challengers are checked for timeout."
    )

    @model_validator(mode="after")
    def _levels_ordered(self) -> DriftSettings:
        if not self.drift_psi_resolve < self.drift_psi_warning <= self.drift_psi_critical:
            raise ValueError("need drift_psi_resolve < drift_psi_warning <= drift_psi_critical")
        ratios = (
            self.drift_performance_resolve_ratio,
            self.drift_performance_warning_ratio,
            self.drift_performance_critical_ratio,
        )
        if not ratios[0] < ratios[1] <= ratios[2]:
            raise ValueError("need performance resolve < warning <= critical ratio")
        return self

    @property
    def replica_id(self) -> str:
        return self.drift_replica_id or socket.gethostname()

    def data_window_policy(self) -> WindowPolicy:
        return WindowPolicy(
            size=self.drift_window_size,
            seconds=self.drift_window_seconds,
            min_size=min(self.drift_window_min_size, self.drift_window_size),
        )

    def prediction_window_policy(self) -> WindowPolicy:
        return WindowPolicy(
            size=self.drift_prediction_window_size,
            seconds=self.drift_window_seconds,
            min_size=min(self.drift_window_min_size, self.drift_prediction_window_size),
        )

    def shadow_policy(self) -> ShadowPolicy:
        return ShadowPolicy(
            min_sales=self.drift_shadow_min_sales,
            looks=self.drift_shadow_looks,
            alpha=self.drift_shadow_alpha,
            timeout_s=self.drift_shadow_timeout_s,
        )

    def thresholds(self) -> Thresholds:
        return Thresholds(
            psi=Levels(
                warning=self.drift_psi_warning,
                critical=self.drift_psi_critical,
                resolve=self.drift_psi_resolve,
            ),
            alpha=self.drift_alpha,
            warning_ratio=self.drift_performance_warning_ratio,
            critical_ratio=self.drift_performance_critical_ratio,
            resolve_ratio=self.drift_performance_resolve_ratio,
            statistics=tuple(self.drift_performance_statistics),
            min_size=self.drift_performance_min_size,
            segment_min_size=self.drift_performance_segment_min_size,
        )

    def alert_policy(self) -> AlertPolicy:
        return AlertPolicy(cooldown_s=self.drift_cooldown_s, resolve_after=self.drift_resolve_after)

    def retrain_policy(self) -> RetrainPolicy:
        return RetrainPolicy(
            enabled=self.drift_auto_retrain,
            cooldown_s=self.drift_retrain_cooldown_s,
            requested_by=f"drift-monitor/{self.replica_id}",
        )
