"""PostgreSQL alert store: condition states, alert history, outbox and window statistics.

A batch of evaluations is one transaction: the condition rows are created if missing, locked in
key order (``SELECT ... FOR UPDATE``; replicas serialise, never deadlock), decided by
:func:`~valora_drift_monitor.domain.alert_plan.plan`, and the new states, alert rows and outbox
events are written together. Kafka publishing happens after the commit; the outbox makes it durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_contracts import utcnow
from valora_db import session_scope
from valora_db.tables.drift_monitor import (
    DriftAlertRow,
    DriftAlertState,
    DriftOutboxRow,
    DriftWindowRow,
)

from valora_drift_monitor.adapters.outgoing import plan_records
from valora_drift_monitor.domain.alert_plan import (
    Evaluation,
    Plan,
    RetrainPolicy,
    plan,
    retrain_key,
)
from valora_drift_monitor.domain.alerting import (
    AlertKey,
    AlertPolicy,
    ConditionState,
    Severity,
)
from valora_drift_monitor.domain.ports import OutboxEntry, WindowRecord
from valora_drift_monitor.errors import DriftStoreError

__all__ = ["PgAlertStore"]

_SEVERITIES: dict[str, Severity] = {"warning": "warning", "critical": "critical"}


def _state(row: DriftAlertState) -> ConditionState:
    return ConditionState(
        state="firing" if row.state == "firing" else "ok",
        severity=_SEVERITIES.get(row.severity or ""),
        value=row.value,
        clear_streak=row.clear_streak,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        notified_at=row.notified_at,
        suppressed=row.suppressed,
    )


def _values(state: ConditionState, now: datetime) -> dict[str, object]:
    return {
        "state": state.state,
        "severity": state.severity,
        "value": state.value,
        "clear_streak": state.clear_streak,
        "fired_at": state.fired_at,
        "resolved_at": state.resolved_at,
        "notified_at": state.notified_at,
        "suppressed": state.suppressed,
        "updated_at": now,
    }


class PgAlertStore:
    """:class:`~valora_drift_monitor.domain.ports.AlertStore` on PostgreSQL."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory

    async def apply(
        self,
        evaluations: Sequence[Evaluation],
        *,
        now: datetime,
        policy: AlertPolicy,
        retrain: RetrainPolicy,
    ) -> Plan:
        if not evaluations:
            return Plan({}, [])
        model_name = evaluations[0].observation.key.model_name
        rows = {e.key: e.observation.key for e in evaluations}
        inhibitors = {e.inhibited_by for e in evaluations if e.inhibited_by}
        keys = sorted({*rows, *inhibitors, retrain_key(model_name)})
        seed = [
            {
                "dedupe_key": key,
                "model_name": model_name,
                "model_version": rows[key].model_version if key in rows else "",
                "kind": rows[key].kind if key in rows else "retrain",
                "feature": rows[key].feature if key in rows else "",
                "statistic": rows[key].statistic if key in rows else "",
            }
            for key in keys
        ]
        try:
            async with session_scope(self._factory) as session:
                await session.execute(insert(DriftAlertState).values(seed).on_conflict_do_nothing())
                locked = (
                    await session.scalars(
                        select(DriftAlertState)
                        .where(DriftAlertState.dedupe_key.in_(keys))
                        .order_by(DriftAlertState.dedupe_key)
                        .with_for_update()
                    )
                ).all()
                current = {row.dedupe_key: _state(row) for row in locked}
                result = plan(
                    current,
                    evaluations,
                    now=now,
                    policy=policy,
                    retrain=retrain,
                    retrain_state=current.get(retrain_key(model_name)),
                )
                await self._write(session, result, rows, model_name, now)
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"alert transition failed: {exc}") from exc
        return result

    async def _write(
        self,
        session: AsyncSession,
        result: Plan,
        rows: dict[str, AlertKey],
        model_name: str,
        now: datetime,
    ) -> None:
        changed = dict(result.states)
        if result.retrain_state is not None:
            changed[retrain_key(model_name)] = result.retrain_state
        for key, state in changed.items():
            values = _values(state, now)
            if key in rows:
                values["model_version"] = rows[key].model_version
            await session.execute(
                update(DriftAlertState).where(DriftAlertState.dedupe_key == key).values(values)
            )
        records = plan_records(result)
        if result.alerts:
            await session.execute(
                insert(DriftAlertRow).values(
                    [
                        {
                            "event_id": a.event_id,
                            "dedupe_key": a.dedupe_key,
                            "state": a.state,
                            "kind": a.kind,
                            "feature": a.feature,
                            "statistic": a.statistic,
                            "value": a.value,
                            "threshold": a.threshold,
                            "p_value": a.p_value,
                            "severity": a.severity,
                            "model_name": a.model_name,
                            "model_version": a.model_version,
                            "window_start": a.window.start,
                            "window_end": a.window.end,
                            "window_size": a.window.size,
                            "payload": a.model_dump(mode="json"),
                        }
                        for a in result.alerts
                    ]
                )
            )
        if records:
            await session.execute(
                insert(DriftOutboxRow).values(
                    [
                        {"event_id": e.event_id, "topic": r.topic, "key": r.key, "value": r.value}
                        for e, r in zip(result.events, records, strict=True)
                    ]
                )
            )

    async def record_window(self, record: WindowRecord) -> None:
        try:
            async with session_scope(self._factory) as session:
                session.add(
                    DriftWindowRow(
                        model_name=record.model_name,
                        model_version=record.model_version,
                        kind=record.kind,
                        window_start=record.start,
                        window_end=record.end,
                        size=record.size,
                        replica=record.replica,
                        features=record.features,
                    )
                )
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"window not stored: {exc}") from exc

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        try:
            async with session_scope(self._factory) as session:
                await session.execute(
                    update(DriftOutboxRow)
                    .where(DriftOutboxRow.event_id.in_(list(event_ids)))
                    .values(published_at=utcnow())
                )
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"outbox not updated: {exc}") from exc

    async def pending(self, *, older_than: datetime, limit: int) -> list[OutboxEntry]:
        try:
            async with session_scope(self._factory) as session:
                rows = (
                    await session.scalars(
                        select(DriftOutboxRow)
                        .where(
                            DriftOutboxRow.published_at.is_(None),
                            DriftOutboxRow.created_at < older_than,
                        )
                        .order_by(DriftOutboxRow.created_at)
                        .limit(limit)
                    )
                ).all()
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"outbox not read: {exc}") from exc
        return [OutboxEntry(r.event_id, r.topic, r.key, r.value) for r in rows]

    async def firing(self, model_name: str) -> list[tuple[str, str, str, str]]:
        try:
            async with session_scope(self._factory) as session:
                rows = (
                    await session.scalars(
                        select(DriftAlertState).where(
                            DriftAlertState.model_name == model_name,
                            DriftAlertState.state == "firing",
                            DriftAlertState.kind != "retrain",
                        )
                    )
                ).all()
        except SQLAlchemyError as exc:
            raise DriftStoreError(f"alert states not read: {exc}") from exc
        return [(r.kind, r.feature, r.statistic, r.severity or "warning") for r in rows]
