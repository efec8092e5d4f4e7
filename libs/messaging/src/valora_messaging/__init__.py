"""Valora messaging: broker factory, codecs, dead letters, retries and topic creation."""

from valora_messaging.admin import ensure_topics
from valora_messaging.batch import (
    InRecord,
    commit_offsets,
    from_consumer_records,
    records_decoder,
    records_of,
    to_failed,
)
from valora_messaging.broker import batch_consumer_options, consumer_options, create_broker
from valora_messaging.codec import decode_event, encode_event, encode_key
from valora_messaging.commits import DeferredCommits
from valora_messaging.dlq import (
    FailedRecord,
    dead_letter_from_record,
    dead_letter_record,
    publish_dead_letters,
)
from valora_messaging.errors import MessagingError, PermanentError, TransientError
from valora_messaging.lanes import ProducerLanes, lane_producer
from valora_messaging.publishing import OutgoingRecord, publish_many
from valora_messaging.request_reply import (
    RequestReplyClient,
    RequestReplyError,
)
from valora_messaging.retry import retry_transient
from valora_messaging.settings import KafkaSettings
from valora_messaging.sink import (
    BatchSink,
    BrokerSink,
    SinkError,
    TransactionalSink,
    create_sink,
    transactional_producer,
)

__all__ = [
    "BatchSink",
    "BrokerSink",
    "DeferredCommits",
    "FailedRecord",
    "InRecord",
    "KafkaSettings",
    "MessagingError",
    "OutgoingRecord",
    "PermanentError",
    "ProducerLanes",
    "RequestReplyClient",
    "RequestReplyError",
    "SinkError",
    "TransactionalSink",
    "TransientError",
    "batch_consumer_options",
    "commit_offsets",
    "consumer_options",
    "create_broker",
    "create_sink",
    "dead_letter_from_record",
    "dead_letter_record",
    "decode_event",
    "encode_event",
    "encode_key",
    "ensure_topics",
    "from_consumer_records",
    "lane_producer",
    "publish_dead_letters",
    "publish_many",
    "records_decoder",
    "records_of",
    "retry_transient",
    "to_failed",
    "transactional_producer",
]
