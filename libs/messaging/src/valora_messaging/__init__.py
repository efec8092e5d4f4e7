"""Valora messaging: broker factory, codecs, dead letters, retries and topic creation."""

from valora_messaging.admin import ensure_topics
from valora_messaging.broker import batch_consumer_options, consumer_options, create_broker
from valora_messaging.codec import decode_event, encode_event, encode_key
from valora_messaging.dlq import FailedRecord, dead_letter_from_record, publish_dead_letters
from valora_messaging.errors import MessagingError, PermanentError, TransientError
from valora_messaging.publishing import OutgoingRecord, publish_many
from valora_messaging.retry import retry_transient
from valora_messaging.settings import KafkaSettings

__all__ = [
    "FailedRecord",
    "KafkaSettings",
    "MessagingError",
    "OutgoingRecord",
    "PermanentError",
    "TransientError",
    "batch_consumer_options",
    "consumer_options",
    "create_broker",
    "dead_letter_from_record",
    "decode_event",
    "encode_event",
    "encode_key",
    "ensure_topics",
    "publish_dead_letters",
    "publish_many",
    "retry_transient",
]
