"""The topic registry: the only place Valora topic names exist.

Every topic name carries a version suffix (``.v1``). Consumers of a topic dead-letter what they
cannot process to that topic's DLQ (``<name>.dlq.v1``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from valora_contracts.dlq import DeadLetter
from valora_contracts.drift import DriftAlert
from valora_contracts.errors import UnknownTopicError
from valora_contracts.listing import IngestedListing, RawListing, RejectedListing, ValidatedListing
from valora_contracts.naming import REPLY_TOPIC_PREFIX, REPLY_TOPIC_SUFFIX
from valora_contracts.prediction import PredictionMade, PredictionReply, PredictionRequested
from valora_contracts.sales import SaleObserved
from valora_contracts.shadow import ChallengerChanged, ModelVerdict, ShadowPrediction
from valora_contracts.training import ModelPromoted, ModelTrained, TrainingRequested

__all__ = [
    "ALL_TOPICS",
    "DRIFT_ALERTS",
    "LISTINGS_INGESTED",
    "LISTINGS_RAW",
    "LISTINGS_REJECTED",
    "LISTINGS_VALIDATED",
    "MODELS_CHALLENGERS",
    "MODELS_PROMOTED",
    "MODELS_TRAINED",
    "MODELS_VERDICT",
    "PREDICTIONS_MADE",
    "PREDICTIONS_REQUESTS",
    "PREDICTIONS_SHADOW",
    "PREDICTION_REPLIES_DLQ",
    "SALES_OBSERVED",
    "TRAINING_REQUESTS",
    "TopicSpec",
    "dlq_for",
    "reply_topic",
    "topic_by_name",
]

_REPLY_INSTANCE_MAX = 100
_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*\.v[0-9]+$")


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: versioned name, what its key is, partitions and event type."""

    name: str
    key: str
    partitions: int
    event: type[BaseModel]
    description: str
    config: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"topic name {self.name!r} must be dotted lowercase with a .vN suffix")
        if self.partitions < 1:
            raise ValueError("partitions must be >= 1")


LISTINGS_RAW = TopicSpec(
    "listings.raw.v1",
    "listing_id (or none)",
    6,
    RawListing,
    "Producers' listings, JSON, any naming.",
)
LISTINGS_INGESTED = TopicSpec(
    "listings.ingested.v1", "listing_id", 6, IngestedListing, "Normalised listings."
)
LISTINGS_VALIDATED = TopicSpec(
    "listings.validated.v1", "listing_id", 6, ValidatedListing, "Listings that passed the contract."
)
LISTINGS_REJECTED = TopicSpec(
    "listings.rejected.v1", "listing_id", 3, RejectedListing, "Listings failing the contract."
)
TRAINING_REQUESTS = TopicSpec(
    "training.requests.v1", "model_name", 1, TrainingRequested, "Requests to train a model."
)
MODELS_TRAINED = TopicSpec(
    "models.trained.v1", "model_name", 1, ModelTrained, "Finished training runs and gate results."
)
MODELS_PROMOTED = TopicSpec("models.promoted.v1", "model_name", 1, ModelPromoted, "New champions.")
MODELS_CHALLENGERS = TopicSpec(
    "models.challengers.v1",
    "model_name",
    1,
    ChallengerChanged,
    "Challengers starting or stopping to shadow the champion.",
)
MODELS_VERDICT = TopicSpec(
    "models.verdict.v1",
    "model_name",
    1,
    ModelVerdict,
    "Decisions on challengers from realised prices (promote or retire).",
)
PREDICTIONS_REQUESTS = TopicSpec(
    "predictions.requests.v1",
    "correlation_id",
    6,
    PredictionRequested,
    "Valuation requests from gateways.",
)
PREDICTIONS_MADE = TopicSpec(
    "predictions.made.v1", "listing_id or input_id", 6, PredictionMade, "Stored predictions."
)
PREDICTIONS_SHADOW = TopicSpec(
    "predictions.shadow.v1",
    "listing_id or input_id",
    6,
    ShadowPrediction,
    "Champion and challenger valuations of the same input (the challenger's never answered).",
)
SALES_OBSERVED = TopicSpec(
    "sales.observed.v1", "listing_id", 3, SaleObserved, "Realised sale prices (late labels)."
)
DRIFT_ALERTS = TopicSpec(
    "drift.alerts.v1", "dedupe_key", 1, DriftAlert, "Drift alerts, firing and resolved."
)

_PRIMARY: tuple[TopicSpec, ...] = (
    LISTINGS_RAW,
    LISTINGS_INGESTED,
    LISTINGS_VALIDATED,
    LISTINGS_REJECTED,
    TRAINING_REQUESTS,
    MODELS_TRAINED,
    MODELS_PROMOTED,
    MODELS_CHALLENGERS,
    MODELS_VERDICT,
    PREDICTIONS_REQUESTS,
    PREDICTIONS_MADE,
    PREDICTIONS_SHADOW,
    SALES_OBSERVED,
    DRIFT_ALERTS,
)


def dlq_for(topic: TopicSpec) -> TopicSpec:
    """The dead-letter topic of ``topic``: ``listings.raw.v1`` -> ``listings.raw.dlq.v1``."""
    base, _, version = topic.name.rpartition(".")
    return TopicSpec(
        f"{base}.dlq.{version}",
        "source key",
        1,
        DeadLetter,
        f"Records of {topic.name} that could not be processed, with their error.",
    )


def reply_topic(instance_id: str) -> TopicSpec:
    """The reply topic of one gateway instance (request-reply over Kafka): the instance id
    lowercased, other characters replaced by ``-``, a long one shortened with a hash suffix, so
    the name always matches :data:`~valora_contracts.naming.REPLY_TOPIC_PATTERN`."""
    safe = re.sub(r"[^a-z0-9_-]", "-", instance_id.lower()) or "gateway"
    if len(safe) > _REPLY_INSTANCE_MAX:
        digest = hashlib.blake2b(safe.encode(), digest_size=8).hexdigest()
        safe = f"{safe[: _REPLY_INSTANCE_MAX - 17]}-{digest}"
    return TopicSpec(
        f"{REPLY_TOPIC_PREFIX}{safe}{REPLY_TOPIC_SUFFIX}",
        "correlation_id",
        1,
        PredictionReply,
        "Replies to one gateway instance.",
        {"retention.ms": "600000"},
    )


PREDICTION_REPLIES_DLQ = TopicSpec(
    "predictions.replies.all.dlq.v1",
    "correlation id",
    1,
    DeadLetter,
    "Replies a gateway could not read (every instance's reply topic dead-letters here).",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    _PRIMARY + tuple(dlq_for(t) for t in _PRIMARY) + (PREDICTION_REPLIES_DLQ,)
)
"""Every static topic, primary and dead-letter (reply topics are per gateway instance)."""

_BY_NAME = {t.name: t for t in ALL_TOPICS}


def topic_by_name(name: str) -> TopicSpec:
    """Look a static topic up by name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownTopicError(name) from None
