"""What the trainer runs beside its subscribers: the training runner task."""

from __future__ import annotations

import asyncio
import logging

from valora_trainer.entrypoints.runner import TrainingRunner

__all__ = ["RunnerTask"]

logger = logging.getLogger(__name__)


class RunnerTask:
    """Starts the runner once the broker consumes (its first turn looks for a missing champion,
    see :mod:`valora_trainer.entrypoints.first_training`) and stops it on shutdown, waiting for
    the run in flight to cancel."""

    def __init__(self, *, runner: TrainingRunner, stop_timeout_s: float) -> None:
        self._runner = runner
        self._stop_timeout_s = stop_timeout_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._runner.run_forever(), name="training-runner")
        logger.info("training runner started")

    async def stop(self) -> None:
        self._runner.request_stop()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, timeout=self._stop_timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
