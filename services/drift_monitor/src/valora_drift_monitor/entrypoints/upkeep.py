"""Background upkeep, entered by timers: find the champion, re-send the outbox, prune old join
state. Started before the first record is consumed, stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from valora_contracts import utcnow
from valora_messaging import OutgoingRecord

from valora_drift_monitor.adapters.metrics import DriftMetrics
from valora_drift_monitor.adapters.reference_loader import References
from valora_drift_monitor.domain.ports import AlertStore, OutcomeStore
from valora_drift_monitor.errors import DriftStoreError
from valora_drift_monitor.settings import DriftSettings

__all__ = ["Judge", "Publisher", "Upkeep"]

logger = logging.getLogger(__name__)
_REFRESH_FACTOR = 10  # with a champion, re-check the alias 10x less often (promotions push)


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutgoingRecord]) -> object:
        """Publish and await every acknowledgement."""
        ...


class Judge(Protocol):
    async def evaluate(self) -> object:
        """Judge the undecided shadow challengers (and time them out)."""
        ...


class Upkeep:
    """Periodic tasks of one replica, started and stopped with the app."""

    def __init__(
        self,
        *,
        references: References,
        alerts: AlertStore,
        outcomes: OutcomeStore,
        publisher: Publisher,
        metrics: DriftMetrics,
        settings: DriftSettings,
        shadow: Judge | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._references = references
        self._alerts = alerts
        self._outcomes = outcomes
        self._publisher = publisher
        self._metrics = metrics
        self._settings = settings
        self._clock = clock
        self._shadow = shadow
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the champion now (if any), then keep the loops running."""
        await self.refresh_reference()
        await self.restore_gauges()
        s = self._settings
        self._tasks = [
            asyncio.create_task(self._loop(self._reference_delay, self.refresh_reference)),
            asyncio.create_task(self._loop(lambda: s.drift_outbox_interval_s, self.sweep_outbox)),
            asyncio.create_task(self._loop(lambda: 3600.0, self.prune)),
        ]
        if self._shadow is not None:  # timeouts of challengers that get no sales
            self._tasks.append(
                asyncio.create_task(self._loop(lambda: s.drift_shadow_check_s, self.judge_shadow))
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _reference_delay(self) -> float:
        base = self._settings.drift_reference_poll_s
        return base if self._references.champion is None else base * _REFRESH_FACTOR

    async def _loop(self, delay: Callable[[], float], step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(delay())
            try:
                await step()
            except Exception:  # a failing chore must not end the loop
                logger.exception("upkeep step failed", extra={"step": step.__name__})

    async def refresh_reference(self) -> None:
        champion = await self._references.refresh_champion()
        if champion is None:
            logger.info(
                "no champion yet: consuming without judging drift",
                extra={"model_name": self._references.model_name},
            )
            return
        self._metrics.set_reference_version(champion.model_name, champion.model_version)

    async def restore_gauges(self) -> None:
        """Firing gauges reflect the stored states after a restart."""
        try:
            firing = await self._alerts.firing(self._references.model_name)
        except DriftStoreError as exc:
            logger.warning("alert states not read", extra={"error": str(exc)})
            return
        for kind, feature, statistic, severity in firing:
            level = 2.0 if severity == "critical" else 1.0
            self._metrics.set_firing(kind, feature, statistic, level)

    async def sweep_outbox(self) -> None:
        """Re-send events committed but never acknowledged (e.g. a crash right after commit)."""
        grace = timedelta(seconds=self._settings.drift_outbox_grace_s)
        pending = await self._alerts.pending(older_than=self._clock() - grace, limit=500)
        if not pending:
            return
        await self._publisher.publish([OutgoingRecord(e.topic, e.value, e.key) for e in pending])
        await self._alerts.mark_published([e.event_id for e in pending])
        logger.warning("re-sent outbox events", extra={"count": len(pending)})

    async def judge_shadow(self) -> None:
        if self._shadow is not None:
            await self._shadow.evaluate()

    async def prune(self) -> None:
        before = self._clock() - timedelta(days=self._settings.drift_retention_days)
        deleted = await self._outcomes.prune(before=before)
        if deleted:
            logger.info("pruned drift join state", extra={"rows": deleted})
