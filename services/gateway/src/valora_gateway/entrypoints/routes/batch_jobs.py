"""Batch jobs: upload a CSV/JSONL file, follow its progress, download its results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from valora_contracts import new_id

from valora_gateway.domain.jobs import csv_header, results_as_csv, results_as_jsonl
from valora_gateway.domain.uploads import detect_format, parse_upload
from valora_gateway.entrypoints.deps import (
    HouseCheckDep,
    JobsDep,
    RunnerDep,
    SettingsDep,
    WriteKey,
)
from valora_gateway.entrypoints.ports import JobStore
from valora_gateway.entrypoints.schemas import ERROR_RESPONSES, BatchJobAccepted, BatchJobStatus
from valora_gateway.errors import BatchJobNotFoundError, InvalidUploadError

__all__ = ["router"]

router = APIRouter(tags=["batch jobs"], responses=ERROR_RESPONSES)
ResultFormat = Literal["csv", "jsonl"]
_RESULTS_DOC = {
    "description": "The results, as CSV or JSON Lines (`format`).",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


async def _upload(request: Request) -> tuple[bytes, str | None, str]:
    """The uploaded bytes, the file name (if any) and the content type."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await request.body(), None, content_type
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise InvalidUploadError("multipart upload needs a 'file' field")
    return await upload.read(), upload.filename, upload.content_type or ""


@router.post(
    "/batch-jobs",
    status_code=202,
    response_model=BatchJobAccepted,
    dependencies=[WriteKey],
    summary="Upload a CSV or JSONL file (multipart field 'file', or the raw body)",
)
async def create_batch_job(
    request: Request,
    jobs: JobsDep,
    runner: RunnerDep,
    settings: SettingsDep,
    check: HouseCheckDep,
    fmt: Annotated[ResultFormat | None, Query(alias="format")] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> BatchJobAccepted:
    data, uploaded_name, content_type = await _upload(request)
    filename = filename or uploaded_name
    job_id = new_id()
    chosen = fmt or detect_format(filename, content_type)
    rows = parse_upload(
        data,
        fmt=chosen,
        job_id=job_id,
        max_rows=settings.gateway_batch_job_max_rows,
        check=check,
    )
    await jobs.create_job(job_id=job_id, filename=filename, input_format=chosen, rows=rows)
    if runner is not None:
        runner.kick()
    invalid = sum(1 for r in rows if r.error is not None)
    return BatchJobAccepted(
        job_id=job_id,
        status="completed" if invalid == len(rows) else "pending",
        total_rows=len(rows),
        invalid_rows=invalid,
        status_url=f"/batch-jobs/{job_id}",
        results_url=f"/batch-jobs/{job_id}/results",
    )


@router.get("/batch-jobs/{job_id}", response_model=BatchJobStatus)
async def batch_job_status(job_id: str, jobs: JobsDep) -> BatchJobStatus:
    progress = await jobs.progress(job_id)
    if progress is None:
        raise BatchJobNotFoundError(f"no batch job {job_id!r}")
    return BatchJobStatus.of(progress)


async def _result_lines(jobs: JobStore, job_id: str, fmt: ResultFormat) -> AsyncIterator[bytes]:
    if fmt == "csv":
        yield csv_header()
    async for page in jobs.iter_results(job_id):
        yield results_as_csv(page) if fmt == "csv" else results_as_jsonl(page)


@router.get("/batch-jobs/{job_id}/results", responses={200: _RESULTS_DOC})
async def batch_job_results(
    job_id: str,
    jobs: JobsDep,
    fmt: Annotated[ResultFormat, Query(alias="format")] = "csv",
) -> StreamingResponse:
    progress = await jobs.progress(job_id)
    if progress is None:
        raise BatchJobNotFoundError(f"no batch job {job_id!r}")
    return StreamingResponse(
        _result_lines(jobs, job_id, fmt),
        media_type="text/csv" if fmt == "csv" else "application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="{job_id}-results.{fmt}"',
            "X-Job-Status": progress.status,
        },
    )
