"""Valora messaging: broker factory, Kafka security (one place), the consumers' error policy,
dead letters, exactly-once transactions per partition, consumer lag, and topic ownership."""

from valora_messaging.admin import (
    KnownTopics,
    TopicLister,
    TopicsExist,
    ensure_topics,
    missing_topics,
    prepare_topics,
)
from valora_messaging.app import ConsumerRuntime, consumer_app
from valora_messaging.batch import (
    ConsumedBatch,
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
from valora_messaging.consumer import Handle, Subscription, subscribe
from valora_messaging.dlq import (
    FailedRecord,
    dead_letter_from_record,
    dead_letter_record,
    publish_dead_letters,
)
from valora_messaging.errors import (
    Classifier,
    ErrorClass,
    FencedError,
    MessagingError,
    NotOwnerError,
    PermanentError,
    ShuttingDownError,
    TransientError,
    classify,
)
from valora_messaging.fencing import PartitionTransactions, TransactionError
from valora_messaging.lag import ConsumerLag
from valora_messaging.lanes import ProducerLanes, lane_producer
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.policy import ErrorPolicy, Process
from valora_messaging.publishing import OutgoingRecord, publish_many
from valora_messaging.request_reply import RequestReplyClient, RequestReplyError
from valora_messaging.retry import RetrySettings, retry_transient
from valora_messaging.security import broker_security, kafka_security
from valora_messaging.settings import KafkaSettings
from valora_messaging.sink import BatchSink, BrokerSink, transactional_producer

__all__ = [
    "BatchSink",
    "BrokerSink",
    "Classifier",
    "ConsumedBatch",
    "ConsumerLag",
    "ConsumerMetrics",
    "ConsumerRuntime",
    "DeferredCommits",
    "ErrorClass",
    "ErrorPolicy",
    "FailedRecord",
    "FencedError",
    "Handle",
    "InRecord",
    "KafkaSettings",
    "KnownTopics",
    "MessagingError",
    "NotOwnerError",
    "OutgoingRecord",
    "PartitionTransactions",
    "PermanentError",
    "Process",
    "ProducerLanes",
    "RequestReplyClient",
    "RequestReplyError",
    "RetrySettings",
    "ShuttingDownError",
    "Subscription",
    "TopicLister",
    "TopicsExist",
    "TransactionError",
    "TransientError",
    "batch_consumer_options",
    "broker_security",
    "classify",
    "commit_offsets",
    "consumer_app",
    "consumer_options",
    "create_broker",
    "dead_letter_from_record",
    "dead_letter_record",
    "decode_event",
    "encode_event",
    "encode_key",
    "ensure_topics",
    "from_consumer_records",
    "kafka_security",
    "lane_producer",
    "missing_topics",
    "prepare_topics",
    "publish_dead_letters",
    "publish_many",
    "records_decoder",
    "records_of",
    "retry_transient",
    "subscribe",
    "to_failed",
    "transactional_producer",
]
