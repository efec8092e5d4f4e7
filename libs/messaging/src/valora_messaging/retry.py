"""Backoff (tenacity): the consumers' retry settings, and bounded retries of one operation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from valora_messaging.errors import ErrorClass, TransientError

__all__ = ["RetrySettings", "retry_transient"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrySettings:
    """How long and how often a failing record is retried (see :class:`ErrorPolicy`)."""

    transient_initial_s: float = 0.5
    transient_max_s: float = 30.0
    transient_hold_s: float = 120.0
    unknown_attempts: int = 5
    unknown_initial_s: float = 4.0
    unknown_max_s: float = 30.0

    def backoff(self, kind: ErrorClass, attempt: int) -> float:
        """The wait before retry ``attempt`` (1-based): tenacity's capped exponential backoff
        with jitter, per error class."""
        if kind is ErrorClass.TRANSIENT:
            initial, ceiling = self.transient_initial_s, self.transient_max_s
        else:
            initial, ceiling = self.unknown_initial_s, self.unknown_max_s
        wait = wait_exponential_jitter(multiplier=initial, max=ceiling, jitter=initial)
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        return float(wait(state))


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
