"""Request-reply with the predictor over Kafka (per-instance reply topic, correlation ids).

Public surface: :class:`RequestReplyClient` (construct with ``from_settings``, ``start``/``stop``
around the broker's lifetime, then ``predict_one``, ``predict_many``, ``send_batch``), its typed
errors (decide by ``code``, see :mod:`~valora_messaging.request_reply.errors` for the tree), the
``dead_letter`` hook type and the reply counters.
"""

from valora_messaging.request_reply.client import REQUEST_ITEMS, RequestReplyClient, RequestSender
from valora_messaging.request_reply.dead_letters import ReplyDeadLetters
from valora_messaging.request_reply.errors import (
    REPLY_ERROR_CODES,
    InvalidReplyError,
    OverloadedError,
    RemoteError,
    ReplyErrorCode,
    ReplyTimeoutError,
    RequestNotDeliveredError,
    RequestReplyError,
)
from valora_messaging.request_reply.inbox import DeadLetterHook, ReplyStats
from valora_messaging.request_reply.limits import ClientLimits

__all__ = [
    "REPLY_ERROR_CODES",
    "REQUEST_ITEMS",
    "ClientLimits",
    "DeadLetterHook",
    "InvalidReplyError",
    "OverloadedError",
    "RemoteError",
    "ReplyDeadLetters",
    "ReplyErrorCode",
    "ReplyStats",
    "ReplyTimeoutError",
    "RequestNotDeliveredError",
    "RequestReplyClient",
    "RequestReplyError",
    "RequestSender",
]
