"""Bounded retries with exponential backoff for transient failures (tenacity)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from valora_messaging.errors import TransientError

__all__ = ["retry_transient"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    initial_s: float = 0.1,
    max_s: float = 5.0,
    retry_on: tuple[type[BaseException], ...] = (TransientError, ConnectionError, OSError),
) -> T:
    """Run ``operation`` with up to ``attempts`` tries; re-raise the last error after that.

    The caller's consumer then nacks the record so Kafka redelivers it: nothing is lost.
    """
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=initial_s, max=max_s),
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep_log(logger, logging.WARNING),
        reraise=True,
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable")  # pragma: no cover
