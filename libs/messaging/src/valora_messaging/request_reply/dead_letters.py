"""Bad replies go to one dead-letter topic shared by every gateway instance.

Reply topics are per instance; their dead letters are not (a topic per instance would leak one
more topic per pod), so :class:`ReplyDeadLetters` writes to
:data:`~valora_contracts.PREDICTION_REPLIES_DLQ` with the source reply topic in the letter.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from valora_contracts import PREDICTION_REPLIES_DLQ

from valora_messaging.batch import InRecord, to_failed
from valora_messaging.dlq import dead_letter_record
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.publishing import publish_many

__all__ = ["ReplyDeadLetters"]


class ReplyDeadLetters:
    """A :data:`~valora_messaging.request_reply.DeadLetterHook` publishing to the replies' DLQ
    and awaiting the broker's acknowledgement."""

    def __init__(
        self, *, broker: KafkaBroker, service: str, metrics: ConsumerMetrics | None = None
    ) -> None:
        self._broker = broker
        self._service = service
        self._metrics = metrics

    async def __call__(self, record: InRecord, error: Exception) -> None:
        failed = to_failed(record, error)
        letter = dead_letter_record(
            record=failed,
            source=PREDICTION_REPLIES_DLQ,  # the letter names the reply topic it came from
            service=self._service,
            dlq=PREDICTION_REPLIES_DLQ,
        )
        await publish_many(broker=self._broker, records=[letter])
        if self._metrics is not None:
            self._metrics.dead_lettered([failed])
