"""Adaptive micro-batching: concurrent single requests travel as one ``PredictionRequested``.

Each caller queues its input and awaits a future. A flusher takes everything queued (up to
``max_items``) once the event loop has run the other ready tasks (plus an optional window), and
sends it as one request. At most ``max_inflight`` batches are outstanding: while they are, new
calls queue up and leave together as the next batch. With one caller nothing waits; under load
batches grow by themselves, which keeps throughput up at high concurrency: the predictor's cost
per batch hardly depends on its size.

The queue is bounded (``max_queued``): a call that finds it full is refused at once with
:class:`~valora_messaging.request_reply.errors.OverloadedError` instead of waiting behind work
that cannot finish within its timeout, so overload sheds requests and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry.context import Context
from valora_contracts import PredictionInput, PredictionResult

from valora_messaging import tracing
from valora_messaging.request_reply.errors import InvalidReplyError, OverloadedError

__all__ = ["MicroBatcher", "SendBatch"]

logger = logging.getLogger(__name__)

SendBatch = Callable[[Sequence[PredictionInput]], Awaitable[list[PredictionResult]]]
"""Sends one batch and returns its results (any order, matched by ``input_id``)."""

_Waiter = tuple[PredictionInput, "asyncio.Future[PredictionResult]", Context | None]
"""An input, its caller's future and (while tracing is on) its caller's trace context."""


class MicroBatcher:
    """Queue of single inputs, flushed as batches through ``send``."""

    def __init__(
        self,
        *,
        send: SendBatch,
        max_items: int,
        window_s: float = 0.0,
        max_inflight: int = 2,
        max_queued: int = 4096,
    ) -> None:
        if max_items < 1 or max_inflight < 1 or max_queued < 1:
            raise ValueError("max_items, max_inflight and max_queued must be >= 1")
        self._send = send
        self._max = max_items
        self._max_queued = max_queued
        self._window = window_s
        self._slots = asyncio.Semaphore(max_inflight)
        self._queue: deque[_Waiter] = deque()
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._flusher is not None

    @property
    def queued(self) -> int:
        """Inputs waiting for a batch slot."""
        return len(self._queue)

    async def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._run(), name="valora-microbatcher")

    async def stop(self) -> None:
        """Stop flushing; batches already sent finish first."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def submit(self, item: PredictionInput) -> PredictionResult:
        """Queue ``item`` and wait for its result (or the error of its batch)."""
        if self._flusher is None:
            raise RuntimeError("micro-batcher is not started")
        if len(self._queue) >= self._max_queued:
            raise OverloadedError(f"{len(self._queue)} inputs already queued: shedding load")
        future: asyncio.Future[PredictionResult] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future, tracing.capture()))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._window)  # sleep(0): let the ready callers queue up
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()  # while batches are out, callers keep queueing
                n = min(self._max, len(self._queue))
                batch = [self._queue.popleft() for _ in range(n)]
                task = asyncio.create_task(self._dispatch(batch))
                self._inflight.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slots.release()

    async def _dispatch(self, batch: list[_Waiter]) -> None:
        try:
            with tracing.activate([parent for _, _, parent in batch]):  # the first caller's trace
                results = await self._send([item for item, _, _ in batch])
        except Exception as exc:
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        by_id = {r.input_id: r for r in results}
        for item, future, _ in batch:
            if future.done():  # the caller went away (cancelled)
                continue
            result = by_id.get(item.input_id)
            if result is None:
                future.set_exception(InvalidReplyError(f"no result for input {item.input_id}"))
            else:
                future.set_result(result)
