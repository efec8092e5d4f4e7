"""Typed messaging errors, and the one classification every consumer uses.

The fate of a failed record is decided by the type of its error, never by its text::

    MessagingError
    ├── PermanentError        the record can never succeed: dead-letter it at once
    ├── TransientError        a dependency is briefly unavailable: back off, retry
    ├── FencedError           a newer owner took over (fenced producer): the process must end
    ├── NotOwnerError         the partition was revoked while the record was handled: drop it,
    │                         its new owner processes it
    └── ShuttingDownError     the consumer stops: leave the record for redelivery

:func:`classify` maps any exception to an :class:`ErrorClass`: these typed errors first, then
well-known library errors found anywhere in the exception's cause chain (pydantic validation,
aiokafka's retriable and size errors, PostgreSQL SQLSTATE classes, OS and timeout errors).
Everything else is ``UNKNOWN``: retried a bounded number of times, then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum

from aiokafka import errors as kafka_errors
from pydantic import ValidationError

__all__ = [
    "Classifier",
    "ErrorClass",
    "FencedError",
    "MessagingError",
    "NotOwnerError",
    "PermanentError",
    "ShuttingDownError",
    "TransientError",
    "classify",
]


class MessagingError(Exception):
    """Base class of messaging errors."""


class PermanentError(MessagingError):
    """The record can never be processed (bad bytes, bad schema, too large): dead-letter it."""


class TransientError(MessagingError):
    """A dependency is briefly unavailable: retry with backoff; the record waits."""


class FencedError(MessagingError):
    """A transactional producer was fenced by a newer owner of its id: this process is a zombie
    for that partition and must stop (a supervisor restarts it)."""


class NotOwnerError(MessagingError):
    """The partition was revoked while its records were handled: nothing was committed, and the
    partition's new owner processes them from its committed offset."""


class ShuttingDownError(MessagingError):
    """The consumer is stopping while a record waits for a retry: it is redelivered later."""


class ErrorClass(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"
    FENCED = "fenced"
    NOT_OWNER = "not_owner"
    SHUTDOWN = "shutdown"


Classifier = Callable[[BaseException], ErrorClass | None]
"""An extra rule (e.g. of a database library): the class of an error, or None to pass."""

_TYPED: tuple[tuple[type[BaseException], ErrorClass], ...] = (
    (FencedError, ErrorClass.FENCED),
    (NotOwnerError, ErrorClass.NOT_OWNER),
    (ShuttingDownError, ErrorClass.SHUTDOWN),
    (PermanentError, ErrorClass.PERMANENT),
    (TransientError, ErrorClass.TRANSIENT),
)

_KAFKA_FENCED: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFenced,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.TransactionCoordinatorFenced,
)
_KAFKA_PERMANENT: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.InvalidTimestampError,
    kafka_errors.PolicyViolationError,
    kafka_errors.UnsupportedForMessageFormatError,
)
# Not marked retriable by aiokafka, yet fixed by waiting (or by an operator while we wait):
# losing records to a dead-letter topic because of an ACL or a coordinator move would be worse.
_KAFKA_TRANSIENT: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.ConcurrentTransactions,
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalStateError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownProducerId,
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
    kafka_errors.ProducerClosed,
)

# PostgreSQL SQLSTATE classes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_SQLSTATE_PERMANENT = ("22", "23")  # data exception (too long, out of range), integrity
_SQLSTATE_TRANSIENT = ("08", "40", "53", "57", "58", "55P03")  # connection, rollback, resources,
# operator intervention (admin shutdown, statement timeout), system, lock not available


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes (``__cause__``, ``__context__``, SQLAlchemy's ``orig``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (
            current.__cause__,
            current.__context__,
            getattr(current, "orig", None),
        ):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _sqlstate_class(error: BaseException) -> ErrorClass | None:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if not isinstance(state, str) or len(state) != 5:
        return None
    if state.startswith(_SQLSTATE_PERMANENT):
        return ErrorClass.PERMANENT
    if state.startswith(_SQLSTATE_TRANSIENT):
        return ErrorClass.TRANSIENT
    return None


def _library_class(error: BaseException) -> ErrorClass | None:
    if isinstance(error, _KAFKA_FENCED):
        return ErrorClass.FENCED
    if isinstance(error, _KAFKA_PERMANENT):
        return ErrorClass.PERMANENT
    if isinstance(error, _KAFKA_TRANSIENT):
        return ErrorClass.TRANSIENT
    if isinstance(error, kafka_errors.KafkaError) and error.retriable:
        return ErrorClass.TRANSIENT
    if isinstance(error, ValidationError):
        return ErrorClass.PERMANENT
    by_state = _sqlstate_class(error)
    if by_state is not None:
        return by_state
    if getattr(error, "connection_invalidated", False) is True:
        return ErrorClass.TRANSIENT
    if isinstance(error, TimeoutError | ConnectionError | OSError):
        return ErrorClass.TRANSIENT
    return None


def classify(error: BaseException, *, extra: Sequence[Classifier] = ()) -> ErrorClass:
    """The class of ``error``: the first decisive rule along its cause chain.

    Typed errors win over library errors anywhere in the chain (a ``PermanentError`` raised
    from a ``ValidationError`` is permanent; a ``TransientError`` wrapping a size error is
    transient, because whoever raised it said so); a fenced producer anywhere is fatal.
    """
    chain = list(_chain(error))
    if any(_library_class(e) is ErrorClass.FENCED for e in chain):
        return ErrorClass.FENCED
    for current in chain:
        for kind, decided in _TYPED:
            if isinstance(current, kind):
                return decided
    for current in chain:
        for rule in extra:
            decided_by_rule = rule(current)
            if decided_by_rule is not None:
                return decided_by_rule
        decided_by_library = _library_class(current)
        if decided_by_library is not None:
            return decided_by_library
    return ErrorClass.UNKNOWN
