"""Batch-job uploads go to a spool file as they arrive.

An upload (a raw body or the multipart field ``file``) is written chunk by chunk to a file under
the gateway's upload directory, never held in memory whole; an upload worker process then reads
it (:mod:`valora_gateway.adapters.upload_store`), so parsing a 64 MiB file never stalls the
event loop that answers ``/predict``. The file is deleted when the request ends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from valora_gateway.errors import InvalidUploadError

__all__ = ["SpooledUpload", "spool_upload"]

_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SpooledUpload:
    path: Path
    filename: str | None
    content_type: str


def _new_file(directory: Path) -> tuple[int, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=directory)
    return fd, Path(name)


async def _spool_body(request: Request, directory: Path) -> Path:
    fd, path = _new_file(directory)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def _spool_form(request: Request, directory: Path) -> tuple[Path, str | None, str]:
    async with request.form() as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidUploadError("multipart upload needs a 'file' field")
        fd, path = _new_file(directory)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await upload.read(_COPY_CHUNK):
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, upload.filename, upload.content_type or ""


@contextlib.asynccontextmanager
async def spool_upload(request: Request, directory: Path) -> AsyncIterator[SpooledUpload]:
    """The upload as a file for as long as the ``with`` lasts (then deleted)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        path, filename, content_type = await _spool_form(request, directory)
    else:
        path, filename = await _spool_body(request, directory), None
    try:
        yield SpooledUpload(path, filename, content_type)
    finally:
        path.unlink(missing_ok=True)
