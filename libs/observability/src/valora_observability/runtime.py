"""Process runtime tuning shared by the services: keep the cyclic GC off the start-up heap.

A service imports MLflow, pandas and scikit-learn (and the predictor holds a model): millions
of long-lived objects that CPython's cyclic garbage collector re-scans at every generation-2
collection, a 150-200 ms stop of the event loop measured on the gateway and the predictor
(``make bench``), which is the p99 of every request caught by one. :func:`freeze_heap` moves
everything alive at that point into the permanent generation (``gc.freeze``), so later
collections scan only what the service allocates while running. Reference counting still frees
those objects; only reference cycles among them are never collected, which is why it is called
once after start-up (and after a model load), not in a loop.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["freeze_heap", "freeze_heap_hook"]

logger = logging.getLogger(__name__)


def freeze_heap(*, reason: str) -> int:
    """Collect once, then freeze every surviving object; returns how many are frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info(
        "heap frozen",
        extra={
            "reason": reason,
            "frozen_objects": frozen,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return frozen


def freeze_heap_hook(*, reason: str) -> Callable[[], Awaitable[None]]:
    """:func:`freeze_heap` as an async start-up hook (a plain function would be run in a
    worker thread by FastStream's hook machinery)."""

    async def hook() -> None:
        freeze_heap(reason=reason)

    return hook
