"""FastAPI routes: thin; they validate, call the services and shape the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from valora_contracts import ListingFeatures, new_id
from valora_observability import run_checks

from valora_gateway.batch_jobs import detect_format, parse_upload
from valora_gateway.deps import Services, get_services
from valora_gateway.errors import (
    BatchJobNotFoundError,
    InvalidUploadError,
    NoChampionError,
    PredictionNotFoundError,
    TooManyItemsError,
)
from valora_gateway.schemas import (
    SEED_EXAMPLE,
    BatchJobAccepted,
    BatchJobStatus,
    BatchPredictRequest,
    BatchPredictResponse,
    ChampionResponse,
    ConfidenceInterval,
    ErrorResponse,
    ListingsAccepted,
    PredictResponse,
    StoredPrediction,
    predict_response,
)

__all__ = ["build_router"]

ServicesDep = Annotated[Services, Depends(get_services)]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 502, 503, 504)
}
RESULT_COLUMNS = (
    "row_index", "listing_id", "area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood",
    "predicted_price", "lower_bound", "upper_bound", "model_name", "model_version",
    "prediction_id", "warnings", "error",
)  # fmt: skip


def _result_record(row: list[Any]) -> dict[str, Any]:
    index, listing_id, features, error, pid, price, lower, upper, name, version, warnings = row
    return {
        "row_index": index,
        "listing_id": listing_id,
        **(features or {}),
        "predicted_price": price,
        "lower_bound": lower,
        "upper_bound": upper,
        "model_name": name,
        "model_version": version,
        "prediction_id": pid,
        "warnings": "; ".join(warnings or []) or None,
        "error": error if error else (None if pid else "not predicted yet"),
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def model_json(model: BaseModel, *, status_code: int = 200) -> Response:
    """A response model as JSON, without FastAPI's second validation of what the route built
    (half the per-request cost of ``POST /predict``). The route keeps ``response_model`` for
    the OpenAPI schema, which the fuzz tests check every response against."""
    return Response(
        model.model_dump_json(by_alias=True).encode(),
        status_code=status_code,
        media_type="application/json",
    )


def build_router(
    *,
    write_guard: Callable[[Request], Awaitable[None]],
    predict_guard: Callable[[Request], Awaitable[None]],
) -> APIRouter:
    router = APIRouter()
    write = [Depends(write_guard)]
    predict_deps = [Depends(predict_guard)]

    @router.post(
        "/predict", response_model=PredictResponse, responses=ERRORS, dependencies=predict_deps,
        tags=["predict"], summary="Value one house (the older project's body works unchanged)",
    )  # fmt: skip
    async def predict(
        house: Annotated[ListingFeatures, Body(examples=[SEED_EXAMPLE])], services: ServicesDep
    ) -> Response:
        return model_json(predict_response(await services.client.predict_one(house)))

    @router.post(
        "/predict/batch", response_model=BatchPredictResponse, responses=ERRORS,
        dependencies=predict_deps, tags=["predict"], summary="Value up to N houses at once",
    )  # fmt: skip
    async def predict_batch(body: BatchPredictRequest, services: ServicesDep) -> Response:
        if len(body.houses) > services.batch_max_items:
            raise TooManyItemsError(
                f"{len(body.houses)} houses exceed the limit of {services.batch_max_items} per "
                "request; use POST /batch-jobs for large files"
            )
        results = await services.client.predict_many(body.houses)
        return model_json(
            BatchPredictResponse(
                predictions=[predict_response(r) for r in results], count=len(results)
            )
        )

    @router.post(
        "/batch-jobs", status_code=202, response_model=BatchJobAccepted, responses=ERRORS,
        dependencies=write, tags=["batch jobs"],
        summary="Upload a CSV or JSONL file (multipart field 'file', or the raw body)",
    )  # fmt: skip
    async def create_batch_job(
        request: Request,
        services: ServicesDep,
        fmt: Annotated[Literal["csv", "jsonl"] | None, Query(alias="format")] = None,
        filename: Annotated[str | None, Query(max_length=255)] = None,
    ) -> BatchJobAccepted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidUploadError("multipart upload needs a 'file' field")
            data = await upload.read()
            filename = filename or upload.filename
            content_type = upload.content_type or ""
        else:
            data = await request.body()
        job_id = new_id()
        chosen = fmt or detect_format(filename, content_type)
        rows = parse_upload(data, fmt=chosen, job_id=job_id, max_rows=services.batch_job_max_rows)
        await services.repo.create_job(
            job_id=job_id, filename=filename, input_format=chosen, rows=rows
        )
        if services.runner is not None:
            services.runner.kick()
        invalid = sum(1 for r in rows if r.error is not None)
        return BatchJobAccepted(
            job_id=job_id,
            status="completed" if invalid == len(rows) else "pending",
            total_rows=len(rows),
            invalid_rows=invalid,
            status_url=f"/batch-jobs/{job_id}",
            results_url=f"/batch-jobs/{job_id}/results",
        )

    @router.get(
        "/batch-jobs/{job_id}", response_model=BatchJobStatus, responses=ERRORS,
        tags=["batch jobs"],
    )  # fmt: skip
    async def batch_job_status(job_id: str, services: ServicesDep) -> BatchJobStatus:
        p = await services.repo.progress(job_id)
        if p is None:
            raise BatchJobNotFoundError(f"no batch job {job_id!r}")
        return BatchJobStatus(
            job_id=p.job_id,
            status=p.status,
            filename=p.filename,
            total_rows=p.total_rows,
            valid_rows=p.valid_rows,
            invalid_rows=p.invalid_rows,
            predicted_rows=p.predicted_rows,
            progress=round(p.predicted_rows / p.valid_rows, 4) if p.valid_rows else 1.0,
            created_at=p.created_at,
            completed_at=p.completed_at,
            error=p.error,
        )

    @router.get(
        "/batch-jobs/{job_id}/results",
        responses={
            **ERRORS,
            200: {
                "description": "The results, as CSV or JSON Lines (`format`).",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            },
        },
        tags=["batch jobs"],
    )
    async def batch_job_results(
        job_id: str,
        services: ServicesDep,
        fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
    ) -> StreamingResponse:
        p = await services.repo.progress(job_id)
        if p is None:
            raise BatchJobNotFoundError(f"no batch job {job_id!r}")

        async def lines() -> AsyncIterator[bytes]:
            if fmt == "csv":
                yield (",".join(RESULT_COLUMNS) + "\n").encode()
            async for page in services.repo.iter_results(job_id):
                chunk = []
                for row in page:
                    record = _result_record(row)
                    if fmt == "csv":
                        cells = [_csv_cell(record.get(c)) for c in RESULT_COLUMNS]
                        chunk.append(",".join(cells).encode() + b"\n")
                    else:
                        chunk.append(orjson.dumps(record) + b"\n")
                yield b"".join(chunk)

        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return StreamingResponse(
            lines(),
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{job_id}-results.{fmt}"',
                "X-Job-Status": p.status,
            },
        )

    @router.get(
        "/predictions/{prediction_id}", response_model=StoredPrediction, responses=ERRORS,
        tags=["predictions"],
    )  # fmt: skip
    async def get_prediction(prediction_id: str, services: ServicesDep) -> StoredPrediction:
        row = await services.repo.get_prediction(prediction_id)
        if row is None:
            raise PredictionNotFoundError(f"no prediction {prediction_id!r}")
        return StoredPrediction(
            **{k: row[k] for k in StoredPrediction.model_fields if k in row},
            predicted_price=row["price"],
            confidence_interval=ConfidenceInterval(
                lower_bound=row["lower_bound"],
                upper_bound=row["upper_bound"],
                level=row["interval_level"],
            ),
        )

    @router.get(
        "/models/champion", response_model=ChampionResponse, responses=ERRORS, tags=["models"]
    )
    async def champion(services: ServicesDep) -> ChampionResponse:
        info = await services.champion.get()
        if info is None:
            raise NoChampionError("no champion model is registered yet")
        created = (
            datetime.fromtimestamp(info.created_at_ms / 1000, tz=UTC)
            if info.created_at_ms
            else None
        )
        return ChampionResponse(
            model_name=info.model_name,
            model_version=info.model_version,
            run_id=info.run_id,
            created_at=created,
            metrics=info.metrics,
        )

    @router.post(
        "/listings", status_code=202, response_model=ListingsAccepted, responses=ERRORS,
        dependencies=write, tags=["listings"],
        summary="Publish one listing (object) or many (array) to the ingest topic",
    )  # fmt: skip
    async def post_listings(
        body: Annotated[dict[str, Any] | list[dict[str, Any]], Body(examples=[SEED_EXAMPLE])],
        services: ServicesDep,
    ) -> ListingsAccepted:
        records = body if isinstance(body, list) else [body]
        if len(records) > services.batch_max_items:
            raise TooManyItemsError(f"at most {services.batch_max_items} listings per request")
        count = await services.publish_listings(records)
        return ListingsAccepted(accepted=count, topic=services.listings_topic)

    @router.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        tags=["health"],
        responses={503: {"description": "Not ready: the failing checks are listed."}},
    )
    async def ready(services: ServicesDep) -> JSONResponse:
        results = await run_checks(services.ready_checks)
        ok = all(results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    return router
