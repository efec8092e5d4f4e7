"""The background runner: claims pending requests under the model's advisory lock, trains in a
worker thread, announces the outcome, and records it.

Order of effects (so a restart never leaves a half-promoted state): the MLflow run and version
are written first; the ``champion`` alias is set as the run's last step (only if the gate
passed); then ``models.trained.v1`` and ``models.promoted.v1`` are published; then the version
is tagged as announced and the requests are marked done. A crash before the alias leaves the
champion untouched and the requests ``running``: the next runner that takes the lock claims and
retries them. A crash between alias and announcement is healed by :meth:`_reconcile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from valora_contracts import (
    MODELS_PROMOTED,
    MODELS_TRAINED,
    ModelPromoted,
    ModelTrained,
)
from valora_db import session_scope
from valora_messaging import OutgoingRecord, encode_event

from valora_trainer.announce import ANNOUNCED_TAG, metrics_from_run
from valora_trainer.config import TrainingConfig
from valora_trainer.errors import InsufficientDataError, TrainingCancelledError
from valora_trainer.pipeline import TrainingJob, TrainingOutcome, run_training
from valora_trainer.queue import (
    ClaimedRequest,
    claim_requests,
    finish_requests,
    models_with_work,
    release_requests,
    try_lock_model,
    unlock_model,
    update_requests,
)
from valora_trainer.steps.registry import Registry
from valora_trainer.steps.search import SearchProgress
from valora_trainer.store import load_labelled_frame
from valora_trainer.threads import run_in_daemon_thread

__all__ = ["Publish", "TrainingRunner"]

logger = logging.getLogger(__name__)
Publish = Callable[[Sequence[OutgoingRecord]], Awaitable[int]]


@dataclass
class TrainingRunner:
    """Runs pending training requests of ``model_name``, one at a time per model."""

    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    publish: Publish
    registry: Registry
    storage_factory: Callable[[], optuna.storages.BaseStorage | None]
    config: TrainingConfig
    model_name: str
    experiment: str
    sources: Sequence[str] = ()
    poll_s: float = 2.0
    on_outcome: Callable[[str, float], None] | None = None

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._stop = threading.Event()
        self._current: asyncio.Task[Any] | None = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run_forever(self) -> None:
        while not self.stopping:
            try:
                await self.run_pending()
            except Exception:  # keep the loop alive; the request stays pending/running
                logger.exception("runner iteration failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run_pending(self) -> int:
        """Run every model that has runnable requests; returns the number of runs."""
        async with session_scope(self.sessions) as session:
            models = await models_with_work(session, [self.model_name])
        runs = 0
        for model_name in models:
            if self.stopping:
                break
            async with self.engine.connect() as lock_conn:
                if not await try_lock_model(lock_conn, model_name):
                    continue  # another trainer runs this model; it will coalesce ours
                await lock_conn.commit()
                try:
                    runs += await self._run_model(model_name)
                finally:
                    await unlock_model(lock_conn, model_name)
                    await lock_conn.commit()
        return runs

    async def _run_model(self, model_name: str) -> int:
        await self._reconcile(model_name)
        async with session_scope(self.sessions) as session:
            claimed = await claim_requests(
                session, model_name, max_attempts=self.config.triggers.max_attempts
            )
        if not claimed:
            return 0
        ids = [c.request_id for c in claimed]
        logger.info(
            "training run starting",
            extra={
                "model_name": model_name,
                "request_ids": ids,
                "attempts": [c.attempts for c in claimed],
            },
        )
        started = time.monotonic()
        try:
            outcome = await self._train(model_name, claimed)
        except TrainingCancelledError as exc:
            await self._release(ids, delay_s=0.0, error=f"interrupted: {exc}")
            self._count("cancelled", started)
            return 0
        except InsufficientDataError as exc:
            async with session_scope(self.sessions) as session:
                await finish_requests(session, ids, status="failed", error=str(exc)[:4000])
            logger.warning("training failed: %s", exc, extra={"request_ids": ids})
            self._count("insufficient_data", started)
            return 0
        except Exception as exc:
            logger.exception("training run failed", extra={"request_ids": ids})
            await self._release(
                ids, delay_s=self.config.triggers.retry_delay_s, error=repr(exc)[:4000]
            )
            self._count("error", started)
            return 0
        await self._announce(model_name, claimed, outcome)
        self._count("promoted" if outcome.promoted else "rejected", started)
        return 1

    def _count(self, outcome: str, started: float) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome, time.monotonic() - started)

    async def _release(self, ids: list[str], *, delay_s: float, error: str) -> None:
        async with session_scope(self.sessions) as session:
            await release_requests(session, ids, delay_s=delay_s, error=error)

    async def _train(self, model_name: str, claimed: list[ClaimedRequest]) -> TrainingOutcome:
        ids = [c.request_id for c in claimed]
        async with session_scope(self.sessions) as session:
            frame = await load_labelled_frame(session, sources=self.sources)
        trials = max((c.trials for c in claimed if c.trials), default=None)
        job = TrainingJob(
            model_name=model_name,
            request_ids=tuple(ids),
            reason=claimed[0].reason,
            trials=trials,
            experiment=self.experiment,
        )
        loop = asyncio.get_running_loop()

        def update(**values: Any) -> None:
            async def write() -> None:
                async with session_scope(self.sessions) as session:
                    await update_requests(session, ids, **values)

            asyncio.run_coroutine_threadsafe(write(), loop)

        def progress(p: SearchProgress) -> None:
            update(trials_done=p.done, trials_total=p.total, best_rmse=p.best_value)

        return await run_in_daemon_thread(
            lambda: run_training(
                job=job,
                frame=frame,
                config=self.config,
                registry=self.registry,
                storage=self.storage_factory(),
                should_stop=self._stop.is_set,
                on_progress=progress,
                on_stage=lambda stage: update(stage=stage),
                on_run=lambda run_id: update(run_id=run_id),
            ),
            name=f"train-{model_name}",
        )

    async def _announce(
        self, model_name: str, claimed: list[ClaimedRequest], outcome: TrainingOutcome
    ) -> None:
        records = [
            OutgoingRecord(
                topic=MODELS_TRAINED.name,
                key=model_name.encode(),
                value=encode_event(
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
            )
            for c in claimed
        ]
        if outcome.promoted:
            records.append(self._promoted_record(model_name, outcome, claimed[0].trace_id))
        await self.publish(records)
        if outcome.promoted:
            await asyncio.to_thread(
                self.registry.set_version_tags,
                model_name,
                outcome.model_version,
                {ANNOUNCED_TAG: "true"},
            )
        async with session_scope(self.sessions) as session:
            await finish_requests(
                session,
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
                "promoted": outcome.promoted,
                "metrics": outcome.metrics.model_dump(),
                "gate": outcome.gate.model_dump(),
            },
        )

    def _promoted_record(
        self, model_name: str, outcome: TrainingOutcome, trace_id: str
    ) -> OutgoingRecord:
        event = ModelPromoted(
            model_name=model_name,
            model_version=outcome.model_version,
            run_id=outcome.run_id,
            previous_version=outcome.previous_version,
            metrics=outcome.metrics,
            trace_id=trace_id,
        )
        return OutgoingRecord(MODELS_PROMOTED.name, encode_event(event), model_name.encode())

    async def _reconcile(self, model_name: str) -> None:
        """Announce a champion whose promotion was never announced (crash after the alias)."""
        champion = await asyncio.to_thread(self.registry.champion, model_name)
        if champion is None or champion.tags.get(ANNOUNCED_TAG) == "true":
            return
        metrics = metrics_from_run(
            await asyncio.to_thread(self.registry.run_metrics, champion.run_id)
        )
        event = ModelPromoted(
            model_name=model_name,
            model_version=champion.version,
            run_id=champion.run_id,
            metrics=metrics,
        )
        await self.publish(
            [OutgoingRecord(MODELS_PROMOTED.name, encode_event(event), model_name.encode())]
        )
        await asyncio.to_thread(
            self.registry.set_version_tags, model_name, champion.version, {ANNOUNCED_TAG: "true"}
        )
        logger.warning("announced an unannounced champion", extra={"version": champion.version})
