"""The HTTP API's request and response bodies (the older project's names are kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from valora_contracts import ListingFeatures, PredictionResult

__all__ = [
    "BatchJobAccepted",
    "BatchJobStatus",
    "BatchPredictRequest",
    "BatchPredictResponse",
    "ChampionResponse",
    "ConfidenceInterval",
    "ErrorResponse",
    "ListingsAccepted",
    "PredictResponse",
    "StoredPrediction",
    "predict_response",
]

SEED_EXAMPLE: dict[str, Any] = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}


class ConfidenceInterval(BaseModel):
    lower_bound: float = Field(description="Lower bound of the calibrated interval.")
    upper_bound: float = Field(description="Upper bound of the calibrated interval.")
    level: float = Field(description="Nominal coverage, e.g. 0.9.")


class PredictResponse(BaseModel):
    predicted_price: float = Field(description="Predicted price.")
    confidence_interval: ConfidenceInterval
    model_name: str
    model_version: str = Field(description="Model version that answered.")
    prediction_id: str = Field(description="Id of the stored prediction (GET /predictions/{id}).")
    warnings: list[str] = Field(default_factory=list, description="E.g. unknown neighbourhood.")


def predict_response(result: PredictionResult) -> PredictResponse:
    return PredictResponse(
        predicted_price=result.price,
        confidence_interval=ConfidenceInterval(
            lower_bound=result.interval.lower_bound,
            upper_bound=result.interval.upper_bound,
            level=result.interval.level,
        ),
        model_name=result.model_name,
        model_version=result.model_version,
        prediction_id=result.prediction_id,
        warnings=list(result.warnings),
    )


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"houses": [SEED_EXAMPLE]}})

    houses: list[ListingFeatures] = Field(min_length=1, description="Houses to value.")


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse]
    count: int


class BatchJobAccepted(BaseModel):
    job_id: str
    status: str
    total_rows: int
    invalid_rows: int
    status_url: str
    results_url: str


class BatchJobStatus(BaseModel):
    job_id: str
    status: str = Field(description="pending, running or completed.")
    filename: str | None
    total_rows: int
    valid_rows: int
    invalid_rows: int
    predicted_rows: int
    progress: float = Field(description="Share of valid rows with a stored prediction.")
    created_at: datetime
    completed_at: datetime | None
    error: str | None


class StoredPrediction(BaseModel):
    prediction_id: str
    source: str
    input_id: str
    listing_id: str | None
    batch_job_id: str | None
    features: dict[str, Any]
    predicted_price: float
    confidence_interval: ConfidenceInterval
    model_name: str
    model_version: str
    run_id: str
    input_hash: str
    trace_id: str
    latency_ms: float
    warnings: list[str]
    created_at: datetime


class ChampionResponse(BaseModel):
    model_name: str
    model_version: str
    run_id: str
    created_at: datetime | None
    metrics: dict[str, float]


class ListingsAccepted(BaseModel):
    accepted: int
    topic: str


class ErrorResponse(BaseModel):
    error: str = Field(description="Machine-readable error code.")
    message: str = Field(description="What went wrong.")
    fields: list[dict[str, str]] | None = Field(default=None, description="Invalid fields.")
