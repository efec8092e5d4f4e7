"""What a handled batch leaves behind: alert transitions stored, events and dead letters
published, the outbox marked, the batch counted.

Transitions are persisted first (state, history and outbox in one transaction, see
:class:`~valora_drift_monitor.adapters.alerts_store.PgAlertStore`); the events are published
with the batch's dead letters; then the outbox rows are marked sent (else the sweeper re-sends
them). Offsets are committed after the handler returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from valora_contracts import utcnow
from valora_messaging import BatchSink, FailedRecord, InRecord, commit_offsets

from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.outgoing import plan_records
from valora_drift_monitor.domain.alert_plan import Evaluation, Plan, RetrainPolicy
from valora_drift_monitor.domain.alerting import AlertPolicy
from valora_drift_monitor.domain.ports import AlertStore
from valora_drift_monitor.errors import DriftStoreError

__all__ = ["BatchOutput", "KindEvaluations"]

logger = logging.getLogger(__name__)

KindEvaluations = tuple[str, list[Evaluation]]
"""The evaluations of one kind (data, prediction, performance) made while handling a batch."""


class BatchOutput:
    """Applies a batch's evaluations through the alert store and writes the batch's output."""

    def __init__(
        self,
        *,
        store: AlertStore,
        sink: BatchSink,
        metrics: DriftMetrics,
        policy: AlertPolicy,
        retrain: RetrainPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._sink = sink
        self.metrics = metrics
        self._policy = policy
        self._retrain = retrain
        self._clock = clock

    async def finish(
        self,
        records: Sequence[InRecord],
        failed: list[FailedRecord],
        evaluations: Sequence[KindEvaluations],
        *,
        topic: str,
        started: float,
    ) -> list[Plan]:
        plans = [await self.apply(evs, kind=kind) for kind, evs in evaluations if evs]
        outputs = [record for plan in plans for record in plan_records(plan)]
        await self._sink.write(outputs=outputs, failed=failed, offsets=commit_offsets(records))
        for plan in plans:
            await self.published(plan)
        self._count(records, failed, topic=topic, started=started)
        return plans

    def _count(
        self, records: Sequence[InRecord], failed: list[FailedRecord], *, topic: str, started: float
    ) -> None:
        base = self.metrics.base
        service = base.service
        handled = len(records) - len(failed)
        if handled:
            base.messages.labels(service, topic, "handled").inc(handled)
        if failed:
            base.messages.labels(service, topic, "dead_lettered").inc(len(failed))
        base.handler_seconds.labels(service, topic).observe(time.perf_counter() - started)

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
            self.metrics.store_errors.labels(self.metrics.service, kind).inc()
            logger.error("alert transitions not stored", extra={"kind": kind, "error": str(exc)})
            return Plan({}, [])
        for alert in plan.alerts:
            self.metrics.observe_alert(alert)
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
        ids = [event.event_id for event in plan.events]
        if not ids:
            return
        try:
            await self._store.mark_published(ids)
        except DriftStoreError as exc:
            logger.warning("outbox not marked; events may be re-sent", extra={"error": str(exc)})
