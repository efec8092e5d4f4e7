"""The fatal latch: a process that must not go on says so once, fails liveness, and exits.

Some errors cannot be retried inside the process: a Kafka transactional producer that was
fenced by a newer instance, for example, must never write again. The code that sees it calls
:func:`fatal`; from then on ``/health/live`` answers 503 with the reason (a supervisor, e.g.
Kubernetes, sees it), the running server (:func:`valora_observability.runner.run_service`)
shuts down gracefully, and the process exits with :func:`exit_code` (non-zero) so the
supervisor starts a fresh one. Without a running server the latch is only set and logged; the
caller then decides (a one-shot command exits with :func:`exit_code` itself).

    fatal(reason, code=70)   latch (first call wins), log CRITICAL once, stop the server
    fatal_reason()           the reason, or None while the process is healthy
    exit_code()              the code to exit with: 0 while healthy, else the latched code
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["EX_SOFTWARE", "exit_code", "fatal", "fatal_reason", "on_fatal", "reset"]

logger = logging.getLogger(__name__)

EX_SOFTWARE = 70
"""``sysexits.h``'s "internal software error": the default exit code of a fatal process."""


class _Latch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.code = 0
        self.stop: Callable[[], None] | None = None

    def trip(self, reason: str, code: int) -> Callable[[], None] | None:
        """Set the latch; returns the stop hook on the first call only (None afterwards)."""
        with self._lock:
            if self.reason is not None:
                return None
            self.reason, self.code = reason, code
            return self.stop or _no_server


def _no_server() -> None:
    logger.warning("fatal with no running server to stop: the caller must exit")


_LATCH = _Latch()


def fatal(reason: str, *, code: int = EX_SOFTWARE) -> None:
    """Mark the process as unable to go on; idempotent (later calls change nothing).

    ``code`` must be non-zero: it is the exit status a supervisor sees.
    """
    if code == 0:
        raise ValueError("a fatal exit code must be non-zero")
    stop = _LATCH.trip(reason, code)
    if stop is None:
        return
    logger.critical("fatal: the process stops", extra={"reason": reason, "exit_code": code})
    stop()


def fatal_reason() -> str | None:
    """Why the process is fatal, or None while it is healthy."""
    return _LATCH.reason


def exit_code() -> int:
    """0 while healthy; the code given to :func:`fatal` once it was called."""
    return _LATCH.code


def on_fatal(stop: Callable[[], None] | None) -> None:
    """Register how to stop the running server (the runner does; None unregisters)."""
    with _LATCH._lock:
        _LATCH.stop = stop


def reset() -> None:
    """Clear the latch (tests only: a real process never becomes healthy again)."""
    with _LATCH._lock:
        _LATCH.reason, _LATCH.code = None, 0
