"""Typed failures of a request-reply exchange; each carries a stable :data:`ReplyErrorCode`.

Callers decide by ``code`` (or by class), never by message text::

    MessagingError
    └── RequestReplyError          code: ReplyErrorCode
        ├── ReplyTimeoutError         "timeout": no reply in time (also a TransientError)
        ├── RequestNotDeliveredError  "not_delivered": Kafka refused it (also a TransientError)
        ├── InvalidReplyError         "invalid_reply": a reply that breaks the contract
        ├── OverloadedError           "overloaded": shed at once, nothing sent (come back later)
        └── RemoteError               "no_champion" | "prediction_failed": the reply's error_code
"""

from __future__ import annotations

from typing import Literal, get_args

from valora_contracts import PredictionErrorCode, PredictionReply

from valora_messaging.errors import MessagingError, TransientError

__all__ = [
    "REPLY_ERROR_CODES",
    "InvalidReplyError",
    "OverloadedError",
    "RemoteError",
    "ReplyErrorCode",
    "ReplyTimeoutError",
    "RequestNotDeliveredError",
    "RequestReplyError",
    "remote_error",
]

ReplyErrorCode = Literal[
    "timeout", "not_delivered", "invalid_reply", "overloaded", PredictionErrorCode
]
REPLY_ERROR_CODES: tuple[ReplyErrorCode, ...] = (
    "timeout",
    "not_delivered",
    "invalid_reply",
    "overloaded",
    *get_args(PredictionErrorCode),
)
"""Every code a :class:`RequestReplyError` can carry (a caller's mapping must cover them all)."""


class RequestReplyError(MessagingError):
    """Base class: ``code`` says what failed; the message is for people only."""

    code: ReplyErrorCode = "invalid_reply"


class ReplyTimeoutError(RequestReplyError, TransientError):
    """No reply arrived within the timeout (the request may still be answered later)."""

    code: ReplyErrorCode = "timeout"


class RequestNotDeliveredError(RequestReplyError, TransientError):
    """The request could not be handed to Kafka, or Kafka refused it."""

    code: ReplyErrorCode = "not_delivered"


class InvalidReplyError(RequestReplyError):
    """A reply that is not a valid ``PredictionReply``, or does not answer every input."""

    code: ReplyErrorCode = "invalid_reply"


class OverloadedError(RequestReplyError):
    """The client's bounded queues are full: the request is refused at once, before anything
    is sent (the caller should answer 503 with Retry-After rather than let it wait)."""

    code: ReplyErrorCode = "overloaded"


class RemoteError(RequestReplyError):
    """The reply says the request failed; ``code`` is the reply's ``error_code``."""

    def __init__(self, message: str, *, code: PredictionErrorCode) -> None:
        super().__init__(message)
        self.code = code


def remote_error(reply: PredictionReply) -> RemoteError | None:
    """The error a reply carries, or ``None``. Only ``error_code`` decides the kind: a reply
    with an error text and no code is read as ``prediction_failed``."""
    if reply.error is None and reply.error_code is None:
        return None
    code: PredictionErrorCode = reply.error_code or "prediction_failed"
    return RemoteError(reply.error or code, code=code)
