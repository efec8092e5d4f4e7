"""The alert engine: evaluations -> persisted transitions -> events to publish."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from valora_contracts import utcnow

from valora_drift_monitor.alerting import AlertPolicy
from valora_drift_monitor.errors import DriftStoreError
from valora_drift_monitor.metrics import DriftMetrics
from valora_drift_monitor.planning import Evaluation, Plan, RetrainPolicy
from valora_drift_monitor.ports import AlertStore

__all__ = ["AlertEngine"]

logger = logging.getLogger(__name__)


class AlertEngine:
    """Applies evaluations through the store (state, history and outbox in one transaction)."""

    def __init__(
        self,
        *,
        store: AlertStore,
        metrics: DriftMetrics,
        policy: AlertPolicy,
        retrain: RetrainPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._policy = policy
        self._retrain = retrain
        self._clock = clock

    async def apply(self, evaluations: Sequence[Evaluation], *, kind: str) -> Plan:
        """Persist the transitions. A store failure is logged and counted, not raised: the
        condition is evaluated again on the next window, so nothing is lost but a little time."""
        if not evaluations:
            return Plan({}, [])
        try:
            plan = await self._store.apply(
                evaluations, now=self._clock(), policy=self._policy, retrain=self._retrain
            )
        except DriftStoreError as exc:
            self._metrics.store_errors.labels(self._metrics.service, kind).inc()
            logger.error("alert transitions not stored", extra={"kind": kind, "error": str(exc)})
            return Plan({}, [])
        for alert in plan.alerts:
            self._metrics.observe_alert(alert)
            logger.warning(
                "drift alert %s",
                alert.state,
                extra={
                    "dedupe_key": alert.dedupe_key,
                    "severity": alert.severity,
                    "kind": alert.kind,
                    "feature": alert.feature,
                    "statistic": alert.statistic,
                    "value": alert.value,
                    "threshold": alert.threshold,
                    "p_value": alert.p_value,
                    "model_version": alert.model_version,
                    "window_size": alert.window.size,
                },
            )
        if plan.retrain is not None:
            logger.warning(
                "requesting retraining after drift",
                extra={"model_name": plan.retrain.model_name, "by": plan.retrain.requested_by},
            )
        return plan

    async def published(self, plan: Plan) -> None:
        """Mark the plan's events as acknowledged (else the outbox sweeper re-sends them)."""
        ids = [a.event_id for a in plan.alerts]
        if plan.retrain is not None:
            ids.append(plan.retrain.event_id)
        if not ids:
            return
        try:
            await self._store.mark_published(ids)
        except DriftStoreError as exc:
            logger.warning("outbox not marked; events may be re-sent", extra={"error": str(exc)})
