"""The consumers' error policy: classification, retries, isolation of the bad record, bounded
dead letters. Plain fakes: the policy sees only a process function and a sink."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    ProducerFenced,
    RequestTimedOutError,
)
from pydantic import BaseModel, ValidationError
from valora_contracts import LISTINGS_RAW, MAX_ORIGINAL_BYTES, DeadLetter
from valora_messaging import (
    ErrorClass,
    ErrorPolicy,
    FailedRecord,
    FencedError,
    InRecord,
    OutgoingRecord,
    PermanentError,
    RetrySettings,
    ShuttingDownError,
    TransientError,
    classify,
    dead_letter_from_record,
    dead_letter_record,
)
from valora_messaging.fencing import TransactionError

pytestmark = pytest.mark.unit

FAST = RetrySettings(
    transient_initial_s=0.001,
    transient_max_s=0.002,
    transient_hold_s=0.3,
    unknown_attempts=3,
    unknown_initial_s=0.001,
    unknown_max_s=0.002,
)


def _records(n: int, *, partition: int = 0) -> list[InRecord]:
    return [
        InRecord(value=f"r{i}".encode(), key=b"k", topic="t", partition=partition, offset=i)
        for i in range(n)
    ]


@dataclass
class FakeSink:
    """Satisfies ``BatchSink``: remembers every dead letter and the offsets written with it."""

    letters: list[tuple[FailedRecord, dict[tuple[str, int], int]]] = field(default_factory=list)
    fail_next: list[BaseException] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def write(
        self,
        *,
        outputs: Sequence[OutgoingRecord],
        failed: Sequence[FailedRecord],
        offsets: Mapping[tuple[str, int], int],
    ) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        for record in failed:
            self.letters.append((record, dict(offsets)))


@dataclass
class Handler:
    """Processes records in order; ``poison`` values always fail with ``error``."""

    poison: set[bytes]
    error: type[Exception] = PermanentError
    processed: list[bytes] = field(default_factory=list)
    calls: int = 0

    async def __call__(self, records: Sequence[InRecord]) -> None:
        self.calls += 1
        if any(r.value in self.poison for r in records):
            raise self.error("poison record")
        self.processed.extend(r.value for r in records)


def _policy(**kwargs: object) -> ErrorPolicy:
    return ErrorPolicy(service="svc", retry=FAST, **kwargs)  # type: ignore[arg-type]


async def test_a_permanent_error_dead_letters_only_the_bad_record_and_keeps_order() -> None:
    handler, sink = Handler(poison={b"r5"}), FakeSink()
    await _policy().run(_records(8), process=handler, source=LISTINGS_RAW, sink=sink)
    assert handler.processed == [b"r0", b"r1", b"r2", b"r3", b"r4", b"r6", b"r7"]
    assert [(f.value, f.error_class, offsets) for f, offsets in sink.letters] == [
        (b"r5", "permanent", {("t", 0): 6})
    ]


async def test_several_poison_records_in_one_batch_are_each_dead_lettered_once() -> None:
    handler, sink = Handler(poison={b"r0", b"r3", b"r9"}), FakeSink()
    await _policy().run(_records(10), process=handler, source=LISTINGS_RAW, sink=sink)
    assert sorted(f.value for f, _ in sink.letters) == [b"r0", b"r3", b"r9"]
    assert handler.processed == [b"r1", b"r2", b"r4", b"r5", b"r6", b"r7", b"r8"]


async def test_a_transient_error_is_retried_until_it_clears_and_nothing_is_dead_lettered() -> None:
    outcomes: list[BaseException | None] = [KafkaConnectionError("down"), TransientError("db")]
    seen: list[int] = []

    async def process(records: Sequence[InRecord]) -> None:
        seen.append(len(records))
        if outcomes:
            error = outcomes.pop(0)
            if error is not None:
                raise error

    sink = FakeSink()
    await _policy().run(_records(4), process=process, source=LISTINGS_RAW, sink=sink)
    assert seen == [4, 4, 4]  # the whole batch each time: no split on an outage
    assert sink.letters == []


async def test_a_transient_error_that_persists_hands_the_batch_back_for_redelivery() -> None:
    handler, sink = Handler(poison={b"r0"}, error=TransientError), FakeSink()
    with pytest.raises(TransientError):
        await _policy().run(_records(2), process=handler, source=LISTINGS_RAW, sink=sink)
    assert handler.calls > 3
    assert sink.letters == []


async def test_an_unknown_error_is_retried_a_bounded_number_of_times_then_dead_lettered() -> None:
    handler, sink = Handler(poison={b"r0"}, error=KeyError), FakeSink()
    await _policy().run(_records(1), process=handler, source=LISTINGS_RAW, sink=sink)
    assert handler.calls == FAST.unknown_attempts
    ((letter, _),) = sink.letters
    assert (letter.error_class, letter.attempts, type(letter.error)) == ("unknown", 3, KeyError)


async def test_an_unknown_error_in_a_batch_is_retried_then_isolated() -> None:
    handler, sink = Handler(poison={b"r2"}, error=RuntimeError), FakeSink()
    await _policy().run(_records(4), process=handler, source=LISTINGS_RAW, sink=sink)
    assert handler.processed == [b"r0", b"r1", b"r3"]
    assert [(f.value, f.error_class) for f, _ in sink.letters] == [(b"r2", "unknown")]


async def test_a_fenced_producer_ends_the_process() -> None:
    reasons: list[str] = []

    async def process(records: Sequence[InRecord]) -> None:
        raise TransactionError("aborted") from ProducerFenced()

    with pytest.raises(FencedError):
        await _policy(on_fatal=reasons.append).run(
            _records(3), process=process, source=LISTINGS_RAW, sink=FakeSink()
        )
    assert len(reasons) == 1
    assert "fenced" in reasons[0]


async def test_closing_the_policy_interrupts_a_backoff() -> None:
    slow = RetrySettings(transient_initial_s=30, transient_max_s=30, transient_hold_s=300)
    policy = ErrorPolicy(service="svc", retry=slow)
    handler = Handler(poison={b"r0"}, error=TransientError)
    task = asyncio.create_task(
        policy.run(_records(1), process=handler, source=LISTINGS_RAW, sink=FakeSink())
    )
    await asyncio.sleep(0.05)
    policy.close()
    with pytest.raises(ShuttingDownError):
        await asyncio.wait_for(task, 2)


async def test_a_dead_letter_write_waits_out_an_outage() -> None:
    sink = FakeSink(fail_next=[RequestTimedOutError(), KafkaConnectionError()])
    await _policy().run(
        _records(1), process=Handler(poison={b"r0"}), source=LISTINGS_RAW, sink=sink
    )
    assert [f.value for f, _ in sink.letters] == [b"r0"]


class _Model(BaseModel):
    n: int


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _validation_error() -> ValidationError:
    try:
        _Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def _wrapped(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_validation_error(), ErrorClass.PERMANENT),
        (_PgError("22001"), ErrorClass.PERMANENT),  # string data right truncation
        (_PgError("23505"), ErrorClass.PERMANENT),  # unique violation
        (_PgError("08006"), ErrorClass.TRANSIENT),  # connection failure
        (_PgError("57014"), ErrorClass.TRANSIENT),  # statement timeout
        (_wrapped(RuntimeError("wrapper"), _PgError("57P01")), ErrorClass.TRANSIENT),
        (_wrapped(TransactionError("aborted"), MessageSizeTooLargeError()), ErrorClass.PERMANENT),
        (_wrapped(TransactionError("aborted"), ProducerFenced()), ErrorClass.FENCED),
        (ConnectionRefusedError(), ErrorClass.TRANSIENT),
        (TimeoutError(), ErrorClass.TRANSIENT),
        (KafkaConnectionError(), ErrorClass.TRANSIENT),
        (_wrapped(TransientError("typed"), MessageSizeTooLargeError()), ErrorClass.TRANSIENT),
        (KeyError("bug"), ErrorClass.UNKNOWN),
        (ValueError("bug"), ErrorClass.UNKNOWN),
    ],
)
def test_errors_are_classified_by_type_along_their_cause_chain(
    error: Exception, expected: ErrorClass
) -> None:
    assert classify(error) is expected


def test_an_extra_classifier_decides_before_the_library_rules() -> None:
    def rule(error: BaseException) -> ErrorClass | None:
        return ErrorClass.TRANSIENT if isinstance(error, KeyError) else None

    assert classify(KeyError("x"), extra=[rule]) is ErrorClass.TRANSIENT


def test_a_dead_letter_keeps_at_most_64_kib_of_the_original_and_says_so() -> None:
    value = b"x" * (3 * 1024 * 1024)
    record = FailedRecord(value, b"k" * 5000, "listings.raw.v1", 2, 7, ValueError("bad area"))
    out = dead_letter_record(record=record, source=LISTINGS_RAW, service="ingestion")
    assert out.topic == "listings.raw.dlq.v1"
    assert len(out.value) < 100 * 1024  # always fits a 1 MiB request
    letter = DeadLetter.model_validate_json(out.value)
    assert len(letter.original) == MAX_ORIGINAL_BYTES
    assert (letter.original_size, letter.original_truncated) == (len(value), True)
    assert letter.original_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.original_key is not None
    assert len(letter.original_key) == 1024
    assert (letter.source_partition, letter.source_offset, letter.error) == (2, 7, "bad area")


def test_a_small_dead_letter_keeps_the_whole_original() -> None:
    record = FailedRecord(b'{"area": "x"}', None, "listings.raw.v1", 0, 1, ValueError("x"))
    letter = dead_letter_from_record(record=record, service="ingestion")
    assert (letter.original, letter.original_truncated) == (b'{"area": "x"}', False)
