"""Prediction request, reply and made events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from valora_contracts.envelope import (
    CleanStr,
    Envelope,
    FiniteFloat,
    Id64,
    Id255,
    Text,
    Version,
    new_id,
)
from valora_contracts.listing import ListingFeatures, Price
from valora_contracts.naming import REPLY_TOPIC_PATTERN

__all__ = [
    "PredictionErrorCode",
    "PredictionId",
    "PredictionInput",
    "PredictionInterval",
    "PredictionMade",
    "PredictionReply",
    "PredictionRequested",
    "PredictionResult",
    "PredictionSource",
]

PredictionSource = Literal["sync", "batch", "stream"]
PredictionErrorCode = Literal["no_champion", "prediction_failed"]
MAX_REQUEST_ITEMS = 1000
"""Most houses one request may carry (the gateway sends at most 500 per request)."""


class PredictionInput(BaseModel):
    """One house to value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_id: Id255 = Field(default_factory=new_id, description="Id of this input (idempotency).")
    listing_id: CleanStr | None = Field(default=None, description="Listing id, when known.")
    features: ListingFeatures = Field(description="Features to value.")


class PredictionRequested(Envelope):
    """A request to value one or more houses; the answer goes to ``reply_to``."""

    correlation_id: Id64 = Field(default_factory=new_id, description="Matches the reply.")
    reply_to: str = Field(
        pattern=REPLY_TOPIC_PATTERN,
        max_length=128,
        description="Topic the predictor answers on: a gateway instance's reply topic "
        "(predictions.replies.<instance>.v1).",
    )
    source: PredictionSource = Field(default="sync", description="Who asked: sync, batch, stream.")
    batch_job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=r"^[0-9A-Za-z_-]+$",
        description="Batch job, for batch requests.",
    )
    items: list[PredictionInput] = Field(
        min_length=1, max_length=MAX_REQUEST_ITEMS, description="Houses to value."
    )


class PredictionInterval(BaseModel):
    """A calibrated (split-conformal) prediction interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lower_bound: FiniteFloat = Field(description="Lower bound of the interval.")
    upper_bound: FiniteFloat = Field(description="Upper bound of the interval.")
    level: FiniteFloat = Field(default=0.9, gt=0, lt=1, description="Nominal coverage.")

    @model_validator(mode="after")
    def _ordered(self) -> PredictionInterval:
        if self.lower_bound > self.upper_bound:
            raise ValueError("lower_bound must not exceed upper_bound")
        return self


PredictionId = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$"),
]
"""The id of a stored prediction (the ``predictions`` table's 32-character key)."""


class PredictionResult(BaseModel):
    """The valuation of one input, with its lineage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prediction_id: PredictionId = Field(description="Id of the stored prediction.")
    input_id: Id255 = Field(description="Input this answers.")
    listing_id: CleanStr | None = Field(default=None, description="Listing id, when known.")
    price: FiniteFloat = Field(description="Predicted price.")
    interval: PredictionInterval = Field(description="Calibrated interval.")
    model_name: CleanStr = Field(description="Registered model name.")
    model_version: Version = Field(description="Model version that answered.")
    run_id: Id64 = Field(description="MLflow run id of that version.")
    warnings: list[Text] = Field(
        default_factory=list, max_length=50, description="E.g. unknown neighbourhood."
    )
    expected_abs_error: FiniteFloat | None = Field(
        default=None,
        ge=0,
        description="The model's estimate of this prediction's absolute error (currency), from "
        "the inputs alone (direct loss estimation); null when the model has no error model.",
    )


class PredictionReply(Envelope):
    """The predictor's answer to a :class:`PredictionRequested`."""

    correlation_id: Id64 = Field(description="Correlation id of the request.")
    results: list[PredictionResult] = Field(
        default_factory=list, max_length=MAX_REQUEST_ITEMS, description="One per input."
    )
    error: Text | None = Field(default=None, description="Why the request failed, if it did.")
    error_code: PredictionErrorCode | None = Field(
        default=None,
        description="Machine-readable kind of the error: no_champion (no model is served yet: "
        "retry later) or prediction_failed (the model raised on these inputs).",
    )


class PredictionMade(Envelope):
    """A stored prediction, published for monitoring."""

    source: PredictionSource = Field(description="sync, batch or stream.")
    features: ListingFeatures = Field(description="Features that were valued.")
    result: PredictionResult = Field(description="The prediction and its lineage.")
    input_hash: str = Field(
        min_length=1, max_length=64, pattern=r"^[0-9a-f]+$", description="Hash of the features."
    )
    latency_ms: FiniteFloat = Field(ge=0, description="Model latency for this batch (ms).")
    asking_price: Price | None = Field(
        default=None,
        description="The listing's own price when a streamed listing carrying one was valued "
        "(its asking price): with the window's other asking prices it shows the market's level "
        "before any sale does. None for requests and unpriced listings.",
    )
