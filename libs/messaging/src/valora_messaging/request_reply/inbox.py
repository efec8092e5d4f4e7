"""The reply side: every record on the reply topic is matched to its waiter, or accounted for.

A reply nobody waits for (a batch-job chunk's, one that came after its timeout, another
instance's leftover) is dropped after reading only its correlation id. A bad reply (not JSON,
no correlation id, not a valid ``PredictionReply``) fails its waiter if there is one, is
counted, logged and handed to the dead-letter hook; the handler itself never raises, so one bad
record cannot stall the reply topic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
from pydantic import ValidationError
from valora_contracts import PredictionReply

from valora_messaging.batch import InRecord
from valora_messaging.request_reply.correlation import CorrelationMap
from valora_messaging.request_reply.errors import InvalidReplyError

__all__ = ["DeadLetterHook", "ReplyInbox", "ReplyStats"]

logger = logging.getLogger(__name__)

DeadLetterHook = Callable[[InRecord, Exception], Awaitable[None]]
"""Called with a bad reply record and why it is bad (e.g. to publish a dead letter)."""


@dataclass
class ReplyStats:
    """Counts of reply records by outcome since start."""

    matched: int = 0
    """Handed to a waiting request."""
    unmatched: int = 0
    """Valid enough to read a correlation id, but nobody waits for it (dropped)."""
    bad: int = 0
    """Not a valid reply (logged and passed to the dead-letter hook)."""


class ReplyInbox:
    """Routes reply records to the futures of a :class:`CorrelationMap`."""

    def __init__(
        self,
        *,
        waiting: CorrelationMap[PredictionReply],
        dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self._waiting = waiting
        self._dead_letter = dead_letter
        self.stats = ReplyStats()

    async def handle(self, records: Sequence[InRecord]) -> None:
        """Deliver each record; never raises."""
        for record in records:
            try:
                self._deliver(record)
            except Exception as exc:
                await self._reject(record, exc)

    def _deliver(self, record: InRecord) -> None:
        try:
            data = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            raise InvalidReplyError("the reply is not JSON") from exc
        cid = data.get("correlation_id") if isinstance(data, dict) else None
        if not isinstance(cid, str):
            raise InvalidReplyError("the reply has no correlation id")
        if cid not in self._waiting:
            self.stats.unmatched += 1
            return
        try:
            reply = PredictionReply.model_validate(data)
        except ValidationError as exc:
            error = InvalidReplyError(f"invalid reply to {cid}: {exc.error_count()} error(s)")
            self._waiting.fail(cid, error)
            raise error from exc
        if self._waiting.resolve(cid, reply):
            self.stats.matched += 1
        else:
            self.stats.unmatched += 1

    async def _reject(self, record: InRecord, error: Exception) -> None:
        self.stats.bad += 1
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        logger.warning(
            "bad reply dropped",
            exc_info=not isinstance(error, InvalidReplyError),
            extra={**where, "error": str(error)[:500], "size": len(record.value)},
        )
        if self._dead_letter is None:
            return
        try:
            await self._dead_letter(record, error)
        except Exception:
            logger.exception("dead-letter hook failed for a bad reply", extra=where)
