"""The HTTP API's request and response bodies (the older project's names are kept).

A prediction travels from the predictor to the wire as one type, the contract's
:class:`~valora_contracts.PredictionResult`; :class:`PredictResponse` is how ``POST /predict``
shows it (``price`` as ``predicted_price``, ``interval`` as ``confidence_interval``, the
lineage ids left to ``GET /predictions/{id}``), read from the result's own fields and
documented with the contract's descriptions.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from valora_contracts import ListingFeatures, PredictionInterval, PredictionResult, RuleViolation
from valora_db.read_models.comparables import Comparable
from valora_db.read_models.predictions import StoredPrediction as StoredRow

from valora_gateway.domain.champion import ChampionInfo
from valora_gateway.domain.jobs import JobProgress

__all__ = [
    "BATCH_NO_COMPARABLES",
    "ERROR_RESPONSES",
    "NO_COMPARABLES",
    "SEED_EXAMPLE",
    "BatchJobAccepted",
    "BatchJobStatus",
    "BatchPredictRequest",
    "BatchPredictResponse",
    "ChampionResponse",
    "ComparableSale",
    "ComparablesResponse",
    "ErrorResponse",
    "ListingsAccepted",
    "PredictResponse",
    "StoredPrediction",
    "model_json",
]

SEED_EXAMPLE: dict[str, Any] = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}


def _result_field(name: str, description: str | None = None) -> Any:
    """A response field read from ``PredictionResult.<name>``, documented as the contract
    documents it unless ``description`` says more."""
    documented = description or PredictionResult.model_fields[name].description
    return Field(validation_alias=name, description=documented)


class ComparableSale(BaseModel):
    """A labelled listing of the training store near the house: how an appraiser checks a
    price (same neighbourhood first, then the nearest, then the most recent)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    listing_id: str = Field(description="The listing's id.")
    neighbourhood: str = Field(description="Its neighbourhood.")
    area: float = Field(description="Living area in square metres.")
    bedrooms: int = Field(description="Bedrooms.")
    bathrooms: int = Field(description="Bathrooms.")
    age: float = Field(description="Age of the building in years.")
    garage: int = Field(description="Parking spaces.")
    price: float = Field(description="Its price: the realised sale price, else the asking price.")
    price_kind: str = Field(description="sale (a realised price) or listing (asking price).")
    priced_at: datetime | None = Field(description="Date of that price (sale, else listing).")
    same_neighbourhood: bool = Field(description="In the house's own neighbourhood.")
    distance: float = Field(
        description="Distance to the house in the comparables space (about one room of "
        "difference per unit: 4 ln(area), bedrooms, bathrooms, age in decades, garage / 2)."
    )

    @classmethod
    def of(cls, c: Comparable) -> ComparableSale:
        return cls.model_validate(c)


class PredictResponse(BaseModel):
    """A prediction (the contract's PredictionResult) as POST /predict answers it."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    predicted_price: float = _result_field("price")
    confidence_interval: PredictionInterval = _result_field("interval")
    model_name: str = _result_field("model_name")
    model_version: str = _result_field("model_version")
    prediction_id: str = _result_field(
        "prediction_id", "Id of the stored prediction (GET /predictions/{id})."
    )
    warnings: list[str] = _result_field(
        "warnings",
        "Unknown neighbourhood, and one warning per input outside the model's training range "
        "(naming the feature and the range): the valuation is then an extrapolation.",
    )
    comparables: list[ComparableSale] | None = Field(
        default=None,
        description="Comparable sales, when asked for with ?comparables=N (absent otherwise).",
    )

    @classmethod
    def of(
        cls, result: PredictionResult, comparables: list[Comparable] | None = None
    ) -> PredictResponse:
        response = cls.model_validate(result)
        if comparables is None:
            return response
        return response.model_copy(
            update={"comparables": [ComparableSale.of(c) for c in comparables]}
        )


NO_COMPARABLES = {"comparables"}
"""``model_json(..., exclude=...)`` of a PredictResponse not asked for comparables."""
BATCH_NO_COMPARABLES = {"predictions": {"__all__": {"comparables"}}}


class ComparablesResponse(BaseModel):
    """The comparable sales of a stored prediction's house."""

    prediction_id: str = Field(description="The prediction whose house they are compared with.")
    comparables: list[ComparableSale]
    count: int


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"houses": [SEED_EXAMPLE]}})

    houses: list[ListingFeatures] = Field(min_length=1, description="Houses to value.")


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse]
    count: int

    @classmethod
    def of(cls, results: list[PredictionResult]) -> BatchPredictResponse:
        return cls(predictions=[PredictResponse.of(r) for r in results], count=len(results))


class BatchJobAccepted(BaseModel):
    job_id: str
    status: str
    total_rows: int
    invalid_rows: int
    status_url: str
    results_url: str


class BatchJobStatus(BaseModel):
    job_id: str
    status: str = Field(
        description="pending, running, completed, or failed (the reason is in error)."
    )
    filename: str | None
    total_rows: int
    valid_rows: int
    invalid_rows: int
    predicted_rows: int
    progress: float = Field(description="Share of valid rows with a stored prediction.")
    created_at: datetime
    completed_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, p: JobProgress) -> BatchJobStatus:
        return cls.model_validate(
            {**dataclasses.asdict(p), "valid_rows": p.valid_rows, "progress": p.share}
        )


class StoredPrediction(BaseModel):
    prediction_id: str
    source: str
    input_id: str
    listing_id: str | None
    batch_job_id: str | None
    features: dict[str, Any]
    predicted_price: float
    confidence_interval: PredictionInterval
    model_name: str
    model_version: str
    run_id: str
    input_hash: str
    trace_id: str
    latency_ms: float
    warnings: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: StoredRow) -> StoredPrediction:
        interval = PredictionInterval(
            lower_bound=row.lower_bound, upper_bound=row.upper_bound, level=row.interval_level
        )
        return cls.model_validate(
            {
                **dataclasses.asdict(row),
                "predicted_price": row.price,
                "confidence_interval": interval,
            }
        )


class ChampionResponse(BaseModel):
    model_name: str
    model_version: str
    run_id: str
    created_at: datetime | None
    metrics: dict[str, float]

    @classmethod
    def of(cls, info: ChampionInfo) -> ChampionResponse:
        return cls(
            model_name=info.model_name,
            model_version=info.model_version,
            run_id=info.run_id,
            created_at=info.created_at,
            metrics=info.metrics,
        )


class ListingsAccepted(BaseModel):
    accepted: int
    topic: str


class ErrorResponse(BaseModel):
    error: str = Field(description="Machine-readable error code.")
    message: str = Field(description="What went wrong.")
    fields: list[dict[str, str]] | None = Field(default=None, description="Invalid fields.")
    violations: list[RuleViolation] | None = Field(
        default=None,
        description="Every data-contract rule the house breaks (the validator's rules).",
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 502, 503, 504)
}


def model_json(model: BaseModel, *, status_code: int = 200, exclude: Any = None) -> Response:
    """A response model as JSON, without FastAPI's second validation of what the route built
    (half the per-request cost of ``POST /predict``). The route keeps ``response_model`` for
    the OpenAPI schema, which the fuzz tests check every response against."""
    return Response(
        model.model_dump_json(by_alias=True, exclude=exclude).encode(),
        status_code=status_code,
        media_type="application/json",
    )
