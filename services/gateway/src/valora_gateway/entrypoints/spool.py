"""Batch-job uploads go to a spool file as they arrive and are parsed off the event loop.

An upload (a raw body or the multipart field ``file``) is written chunk by chunk to a file under
the gateway's upload directory, never held in memory whole. Its rows are then read in a worker
thread a page at a time (:func:`pages_off_loop`), so parsing a 64 MiB file never stalls the
event loop that answers ``/predict``; the pages are stored as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from valora_gateway.domain.jobs import JobRow
from valora_gateway.domain.uploads import take
from valora_gateway.errors import InvalidUploadError

__all__ = ["SpooledUpload", "pages_off_loop", "spool_upload"]

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


async def pages_off_loop(rows: Iterator[JobRow], *, size: int) -> AsyncIterator[list[JobRow]]:
    """``rows`` read ``size`` at a time in a worker thread (reading is blocking: file I/O and
    parsing), so the event loop keeps serving while a large upload is parsed."""
    while page := await asyncio.to_thread(take, rows, size):
        yield page
