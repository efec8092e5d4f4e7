"""Gateway batch jobs without a database: uploads to rows, results files, the runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from valora_contracts import PredictionInput
from valora_gateway.domain.jobs import (
    RESULT_COLUMNS,
    JobProgress,
    JobResult,
    csv_header,
    results_as_csv,
    results_as_jsonl,
)
from valora_gateway.domain.uploads import detect_format, parse_upload
from valora_gateway.entrypoints.job_runner import BatchJobRunner
from valora_gateway.errors import InvalidUploadError, TooManyItemsError
from valora_messaging.request_reply import RequestNotDeliveredError

pytestmark = pytest.mark.unit

SEED = {"area": 120.5, "quartos": 3, "banheiros": 2, "idade": 5.0, "garagem": 1, "bairro": "Sul"}
FEATURES = {
    "area": 1.0,
    "bedrooms": 1,
    "bathrooms": 1,
    "age": 1.0,
    "garage": 0,
    "neighbourhood": "X",
}


def test_csv_upload_rows_valid_and_invalid() -> None:
    csv = b"listing_id,area,quartos,banheiros,idade,garagem,bairro,preco\nA,100,2,1,5,1,Centro,9\n"
    csv += b"B,100,two,1,5,1,Centro,9\nC,100,2,1\n"
    rows = parse_upload(csv, fmt="csv", job_id="j", max_rows=10)
    assert [r.input_id for r in rows] == ["j:0", "j:1", "j:2"]
    assert rows[0].features == {
        "area": 100.0, "bedrooms": 2, "bathrooms": 1, "age": 5.0, "garage": 1,
        "neighbourhood": "Centro",
    }  # fmt: skip
    assert (rows[0].listing_id, rows[0].error) == ("A", None)
    assert rows[1].features is None
    assert rows[1].error is not None
    assert "quartos" in rows[1].error
    assert rows[2].error == "line 4: fewer cells than header columns"


def test_jsonl_upload_keeps_going_past_a_bad_line() -> None:
    lines = [orjson.dumps({**SEED, "area": 50 + i}) for i in range(3)]
    data = b"\n".join([lines[0], b"{not json", lines[1], b"[1]", lines[2]]) + b"\n"
    rows = parse_upload(data, fmt="jsonl", job_id="j", max_rows=10)
    assert [r.error is None for r in rows] == [True, False, True, False, True]
    assert rows[1].error is not None
    assert rows[1].error.startswith("line 2: invalid JSON")
    assert [r.features["area"] for r in rows if r.features] == [50.0, 51.0, 52.0]


def test_upload_limits_and_whole_file_errors() -> None:
    data = b"\n".join(orjson.dumps(SEED) for _ in range(3))
    with pytest.raises(TooManyItemsError):
        parse_upload(data, fmt="jsonl", job_id="j", max_rows=2)
    with pytest.raises(InvalidUploadError, match="no rows"):
        parse_upload(b"", fmt="csv", job_id="j", max_rows=2)
    with pytest.raises(InvalidUploadError, match="UTF-8"):
        parse_upload(b"area\n\xff\n", fmt="csv", job_id="j", max_rows=2)
    long_listing_id = b"listing_id,area,quartos,banheiros,idade,garagem,bairro\n" + b"x" * 300
    (row,) = parse_upload(long_listing_id + b",1,1,1,1,1,S\n", fmt="csv", job_id="j", max_rows=2)
    assert row.listing_id == "x" * 255  # bounded by its column


def test_detect_format_accepts_csv_and_jsonl_only() -> None:
    assert detect_format("x.JSONL", None) == "jsonl"
    assert detect_format(None, "text/csv") == "csv"
    assert detect_format("houses.tsv", None) == "csv"
    with pytest.raises(InvalidUploadError):
        detect_format("x.parquet", "application/octet-stream")
    with pytest.raises(InvalidUploadError):
        detect_format(None, "application/octet-stream")


def test_results_files() -> None:
    done = JobResult(0, "L,1", FEATURES, None, "p0", 10.0, 9.0, 11.0, "m", "7", ["a", 'b"c'])
    pending = JobResult(1, None, FEATURES, None)
    bad = JobResult(2, None, None, "area: required")
    assert csv_header() == (",".join(RESULT_COLUMNS) + "\n").encode()
    csv = results_as_csv([done, pending, bad]).decode().splitlines()
    assert csv[0] == '0,"L,1",1.0,1,1,1.0,0,X,10.0,9.0,11.0,m,7,p0,"a; b""c",'
    assert csv[1].endswith(",not predicted yet")
    assert csv[2] == "2,,,,,,,,,,,,,,,area: required"
    records = [orjson.loads(line) for line in results_as_jsonl([done, pending]).splitlines()]
    assert records[0]["predicted_price"] == 10.0
    assert records[0]["warnings"] == 'a; b"c'
    assert records[1]["error"] == "not predicted yet"


def _progress(job_id: str, predicted: int, status: str = "running") -> JobProgress:
    return JobProgress(
        job_id=job_id, status=status, filename=None, total_rows=5, invalid_rows=0,
        predicted_rows=predicted, created_at=datetime.now(UTC), completed_at=None, error=None,
    )  # fmt: skip


@dataclass
class FakeQueue:
    """Satisfies ``JobQueue``: one job of five rows, ``predicted`` of them stored."""

    predicted: int = 0
    statuses: list[str] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None

    async def claim_jobs(self, *, owner: str, lease_s: float) -> list[str]:
        return ["job"]

    async def progress(self, job_id: str) -> JobProgress | None:
        if "failed" in self.statuses:
            return _progress(job_id, self.predicted, "failed")
        return _progress(job_id, self.predicted, "completed" if self.predicted == 5 else "running")

    async def set_status(self, job_id: str, status: str) -> None:
        self.statuses.append(status)

    async def record_attempt(self, job_id: str) -> int:
        self.attempts += 1
        return self.attempts

    async def fail(self, job_id: str, error: str) -> None:
        self.statuses.append("failed")
        self.error = error

    async def unpredicted_rows(self, job_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        return [(f"job:{i}", None, FEATURES) for i in range(self.predicted, 5)]


@dataclass
class FakeSender:
    fail_after: int | None = None
    chunks: list[list[str]] = field(default_factory=list)

    async def send_batch(self, *, job_id: str, items: Sequence[PredictionInput]) -> None:
        if self.fail_after is not None and len(self.chunks) >= self.fail_after:
            raise RequestNotDeliveredError("broker down")
        self.chunks.append([i.input_id for i in items])


def _runner(
    queue: FakeQueue, sender: FakeSender, *, stall_s: float, max_attempts: int = 5
) -> BatchJobRunner:
    return BatchJobRunner(
        jobs=queue, client=sender, owner="me", chunk_rows=2, poll_s=1.0, stall_s=stall_s,
        lease_s=60.0, max_attempts=max_attempts,
    )  # fmt: skip


async def test_runner_sends_rows_in_chunks_and_resends_only_missing_rows_after_a_stall() -> None:
    queue, sender = FakeQueue(), FakeSender()
    runner = _runner(queue, sender, stall_s=0.0)
    await runner.tick()
    assert sender.chunks == [["job:0", "job:1"], ["job:2", "job:3"], ["job:4"]]
    assert queue.statuses == ["running"]
    queue.predicted = 3
    await runner.tick()  # progress: nothing re-sent
    assert len(sender.chunks) == 3
    await runner.tick()  # no progress since (stall_s=0): the two missing rows again
    assert sender.chunks[3:] == [["job:3", "job:4"]]
    queue.predicted = 5
    await runner.tick()  # completed: nothing more
    assert len(sender.chunks) == 4


async def test_runner_waits_for_the_stall_time_and_stops_at_a_failed_chunk() -> None:
    queue, sender = FakeQueue(), FakeSender(fail_after=1)
    runner = _runner(queue, sender, stall_s=3600.0)
    await runner.tick()
    assert sender.chunks == [["job:0", "job:1"]]  # the rest waits for the next try
    sender.fail_after = None
    await runner.tick()  # not stalled yet: nothing re-sent
    assert len(sender.chunks) == 1


async def test_a_job_that_never_completes_fails_after_the_bounded_attempts() -> None:
    """A job whose rows never get predicted (no model, predictor gone) is sent
    ``max_attempts`` times in all, then fails with a clear status, never retried forever."""
    queue, sender = FakeQueue(predicted=1), FakeSender()
    runner = _runner(queue, sender, stall_s=0.0, max_attempts=3)
    for _ in range(10):
        await runner.tick()
    sends = [c for c in sender.chunks if c[0] == "job:1"]
    assert len(sends) == 3  # the first send and two re-sends
    assert queue.statuses == ["running", "failed"]
    assert queue.error is not None
    assert "gave up after 3 attempts: 4 of 5 valid rows were never predicted" in queue.error
