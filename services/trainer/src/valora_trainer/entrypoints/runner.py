"""The background runner: claims pending training requests under the model's advisory lock, runs
:func:`~valora_trainer.service_layer.run.run_training` in a daemon thread, reports, and records
the outcome.

Order of effects (so a restart never leaves a half-promoted state): the MLflow run and version
are written first; the run's last step promotes (alias ``champion``, ``models.promoted.v1``,
then the version's ``announced`` tag); then ``models.trained.v1`` is published (one per
request) and the requests are marked done. A crash before the alias leaves the champion
untouched and the requests ``running``: the next runner that takes the lock claims and retries
them. A champion left without the ``announced`` tag is promoted again (announced) by the next
runner before it claims anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from valora_contracts import MODELS_TRAINED, ModelTrained
from valora_db import session_scope
from valora_messaging import OutgoingRecord, encode_event
from valora_observability import ServiceMetrics

from valora_trainer.adapters import request_queue
from valora_trainer.adapters.publisher import AsyncPublisher, ThreadPublisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.adapters.request_queue import ClaimedRequest, RequestProgress
from valora_trainer.adapters.training_store import load_labelled_frame
from valora_trainer.config import TrainingConfig
from valora_trainer.domain.metrics import metrics_from_run
from valora_trainer.entrypoints.first_training import FirstTraining
from valora_trainer.entrypoints.threads import run_in_daemon_thread
from valora_trainer.errors import InsufficientDataError, TrainingCancelledError
from valora_trainer.service_layer.promotion import ANNOUNCED_TAG, promote
from valora_trainer.service_layer.run import (
    RunControl,
    RunDeps,
    TrainingJob,
    TrainingOutcome,
    run_training,
)

__all__ = ["RunOutcomes", "TrainingRunner"]

logger = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 120.0
"""How long the run's thread waits for the broker to acknowledge ``models.promoted.v1``."""


class RunOutcomes:
    """Prometheus figures of training runs: count and duration by outcome."""

    def __init__(self, metrics: ServiceMetrics, *, service: str) -> None:
        self._service = service
        self._runs = metrics.counter(
            "valora_training_runs_total", "Training runs by outcome.", ["outcome"]
        )
        self._seconds = metrics.histogram(
            "valora_training_seconds", "Training run duration.", ["outcome"]
        )

    def observe(self, outcome: str, elapsed_s: float) -> None:
        self._runs.labels(self._service, outcome).inc()
        self._seconds.labels(self._service, outcome).observe(elapsed_s)


@dataclass
class TrainingRunner:
    """Runs pending training requests of ``model_name``, one run at a time per model."""

    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    publisher: AsyncPublisher
    registry: Registry
    storage: Callable[[], optuna.storages.BaseStorage | None]
    config: TrainingConfig
    model_name: str
    experiment: str
    sources: Sequence[str] = ()
    poll_s: float = 2.0
    outcomes: RunOutcomes | None = None
    first_training: FirstTraining | None = None
    """Asks for a first run while no champion exists (see its module), between runs."""

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def note_labels(self, count: int) -> None:
        """New labelled listings were stored (the first-training check looks again)."""
        if self.first_training is not None:
            self.first_training.note_labels(count)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run_forever(self) -> None:
        while not self.stopping:
            try:
                if self.first_training is not None:
                    await self.first_training.check()
                await self.run_pending()
            except Exception:  # keep the loop alive; the request stays pending/running
                logger.exception("runner iteration failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def run_pending(self) -> int:
        """Run every model that has runnable requests; returns the number of runs."""
        async with session_scope(self.sessions) as session:
            models = await request_queue.models_with_work(session, [self.model_name])
        runs = 0
        for model_name in models:
            if self.stopping:
                break
            async with self.engine.connect() as lock_conn:
                if not await request_queue.try_lock_model(lock_conn, model_name):
                    continue  # another trainer runs this model; it will coalesce ours
                await lock_conn.commit()
                try:
                    runs += await self._run_model(model_name)
                finally:
                    await request_queue.unlock_model(lock_conn, model_name)
                    await lock_conn.commit()
        return runs

    async def _run_model(self, model_name: str) -> int:
        await self._announce_champion(model_name)
        async with session_scope(self.sessions) as session:
            claimed = await request_queue.claim_requests(
                session, model_name, max_attempts=self.config.triggers.max_attempts
            )
        if not claimed:
            return 0
        ids = [c.request_id for c in claimed]
        logger.info(
            "training run starting",
            extra={"model_name": model_name, "request_ids": ids, "attempts": _attempts(claimed)},
        )
        started = time.monotonic()
        try:
            outcome = await self._train(model_name, claimed)
        except TrainingCancelledError as exc:
            await self._release(ids, delay_s=0.0, error=f"interrupted: {exc}")
            self._observe("cancelled", started)
            return 0
        except InsufficientDataError as exc:
            await self._finish(ids, status="failed", error=str(exc)[:4000])
            logger.warning("training failed: %s", exc, extra={"request_ids": ids})
            self._observe("insufficient_data", started)
            return 0
        except Exception as exc:
            logger.exception("training run failed", extra={"request_ids": ids})
            delay_s = self.config.triggers.retry_delay_s
            await self._release(ids, delay_s=delay_s, error=repr(exc)[:4000])
            self._observe("error", started)
            return 0
        await self._report(model_name, claimed, outcome)
        kept = "challenger" if outcome.challenger else "rejected"
        self._observe("promoted" if outcome.promoted else kept, started)
        return 1

    async def _train(self, model_name: str, claimed: list[ClaimedRequest]) -> TrainingOutcome:
        async with session_scope(self.sessions) as session:
            frame = await load_labelled_frame(session, sources=self.sources)
        job = TrainingJob(
            model_name=model_name,
            reason=claimed[0].reason,
            experiment=self.experiment,
            request_ids=tuple(c.request_id for c in claimed),
            trials=max((c.trials for c in claimed if c.trials), default=None),
            trace_id=claimed[0].trace_id,
            # the newest request that says how to promote decides (coalesced requests)
            promotion=next((c.promotion for c in reversed(claimed) if c.promotion), None),
        )
        loop = asyncio.get_running_loop()
        deps = RunDeps(self.config, self.registry, self.storage(), self._thread_publisher())
        progress = RequestProgress(self.sessions, job.request_ids, loop)
        control = RunControl(
            should_stop=self._stop.is_set,
            on_stage=progress.stage,
            on_run=progress.run,
            on_progress=progress.search,
        )
        return await run_in_daemon_thread(
            lambda: run_training(job=job, frame=frame, deps=deps, control=control),
            name=f"train-{model_name}",
        )

    def thread_publisher(self) -> ThreadPublisher:
        """Publishes from a worker thread through the service's broker (call on its loop)."""
        return self._thread_publisher()

    def _thread_publisher(self) -> ThreadPublisher:
        loop = asyncio.get_running_loop()
        return ThreadPublisher(self.publisher, loop, timeout_s=PUBLISH_TIMEOUT_S)

    async def _report(
        self, model_name: str, claimed: list[ClaimedRequest], outcome: TrainingOutcome
    ) -> None:
        """``models.trained.v1`` for every request the run answered; the requests are done."""
        await self.publisher.publish(
            [
                OutgoingRecord(
                    MODELS_TRAINED.name,
                    encode_event(
                        ModelTrained(
                            request_id=c.request_id,
                            model_name=model_name,
                            model_version=outcome.model_version,
                            run_id=outcome.run_id,
                            metrics=outcome.metrics,
                            gate=outcome.gate,
                            trace_id=c.trace_id,
                        )
                    ),
                    model_name.encode(),
                )
                for c in claimed
            ]
        )
        await self._finish(
            [c.request_id for c in claimed],
            status="done",
            stage="done",
            run_id=outcome.run_id,
            model_version=outcome.model_version,
            gate_passed=outcome.gate.passed,
            error=None if outcome.gate.passed else "; ".join(outcome.gate.reasons)[:4000],
        )
        logger.info(
            "training run finished",
            extra={
                "model_name": model_name,
                "run_id": outcome.run_id,
                "version": outcome.model_version,
                "promoted": outcome.promoted is not None,
                "challenger": outcome.challenger is not None,
                "metrics": outcome.metrics.model_dump(),
                "gate": outcome.gate.model_dump(),
            },
        )

    async def _announce_champion(self, model_name: str) -> None:
        """Promote again a champion whose promotion was never announced (crash after the
        alias): :func:`~valora_trainer.service_layer.promotion.promote` publishes it and tags it."""
        champion = await asyncio.to_thread(self.registry.champion, model_name)
        if champion is None or champion.tags.get(ANNOUNCED_TAG) == "true":
            return
        metrics = metrics_from_run(
            await asyncio.to_thread(self.registry.run_metrics, champion.run_id)
        )
        publisher = self._thread_publisher()
        await asyncio.to_thread(
            lambda: promote(
                model_name=model_name,
                version=champion.version,
                run_id=champion.run_id,
                metrics=metrics,
                registry=self.registry,
                publisher=publisher,
            )
        )
        logger.warning("announced an unannounced champion", extra={"version": champion.version})

    def _observe(self, outcome: str, started: float) -> None:
        if self.outcomes is not None:
            self.outcomes.observe(outcome, time.monotonic() - started)

    async def _release(self, ids: list[str], *, delay_s: float, error: str) -> None:
        async with session_scope(self.sessions) as session:
            await request_queue.release_requests(session, ids, delay_s=delay_s, error=error)

    async def _finish(self, ids: list[str], *, status: str, **values: Any) -> None:
        async with session_scope(self.sessions) as session:
            await request_queue.finish_requests(session, ids, status=status, **values)


def _attempts(claimed: Sequence[ClaimedRequest]) -> list[int]:
    return [c.attempts for c in claimed]
