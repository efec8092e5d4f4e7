"""The bounds of a request-reply client: what it holds at most before it sheds load."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientLimits"]


@dataclass(frozen=True)
class ClientLimits:
    """How much a :class:`~valora_messaging.request_reply.RequestReplyClient` holds at once.

    Past any bound a call fails at once with
    :class:`~valora_messaging.request_reply.errors.OverloadedError` (nothing is sent), so a
    burst of 4x the capacity is answered quickly instead of timing out, and the memory held for
    waiting calls is bounded.
    """

    max_items: int = 256
    """Most single calls sent as one micro-batch request."""
    window_s: float = 0.0
    """Extra time to gather single calls into one request."""
    max_inflight: int = 32
    """Micro-batch requests outstanding at once (more single calls queue)."""
    max_queued: int = 4096
    """Single calls waiting for a micro-batch slot; a call finding the queue full is shed."""
    batch_concurrency: int = 4
    """Requests of one ``predict_many`` in flight at once (its other chunks wait)."""
    max_batch_calls: int = 64
    """``predict_many`` calls at once; one more is shed."""

    def __post_init__(self) -> None:
        for name in ("max_items", "max_inflight", "max_queued", "batch_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_batch_calls < 1 or self.window_s < 0:
            raise ValueError("max_batch_calls must be >= 1 and window_s >= 0")
