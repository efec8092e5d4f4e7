"""Process lifecycle: a fatal latch (placeholder until the tools branch lands; same API)."""

from __future__ import annotations

import logging
import os
import signal

__all__ = ["exit_code", "fatal", "fatal_reason"]

logger = logging.getLogger(__name__)
_state: dict[str, object] = {"reason": None, "code": 0}


def fatal(reason: str, *, code: int = 70) -> None:
    """Mark the process as failed and ask it to stop gracefully (exits with ``code``)."""
    if _state["reason"] is not None:
        return
    _state["reason"], _state["code"] = reason, code
    logger.critical("fatal: stopping", extra={"reason": reason})
    os.kill(os.getpid(), signal.SIGTERM)


def fatal_reason() -> str | None:
    reason = _state["reason"]
    return reason if isinstance(reason, str) else None


def exit_code() -> int:
    code = _state["code"]
    return code if isinstance(code, int) else 70
