"""Structured logging: one JSON object per line, ``extra=`` fields included, bounded in size.

:func:`configure_logging` sends the root logger to stderr, or, when ``VALORA_LOG_FILE`` is set
(the dev stack sets it), to that file rotated by size (``VALORA_LOG_MAX_BYTES``, keeping
``VALORA_LOG_BACKUPS`` old files). Either way a :class:`RepeatedErrorSummary` keeps an error
storm from flooding it: the first of a run of identical warnings/errors is written (with its
traceback), the rest of that interval (``VALORA_LOG_SUMMARY_INTERVAL_S``, default 60 s) are
counted and written as one summary line with a ``repeated`` count.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path

from pydantic import Field
from pythonjsonlogger.json import JsonFormatter
from valora_settings.base import ValoraSettings

__all__ = ["LogSettings", "RepeatedErrorSummary", "configure_logging"]

_NOISY = ("aiokafka", "kafka", "urllib3", "alembic.runtime.migration")


class LogSettings(ValoraSettings):
    """Where the logs go and how much of them is kept (read by :func:`configure_logging`)."""

    log_file: Path | None = Field(
        default=None,
        description="Write logs to this file, rotated by size, instead of stderr.",
    )
    log_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=4096, description="Size at which the log file rotates."
    )
    log_backups: int = Field(default=3, ge=0, description="Rotated log files kept.")
    log_summary_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="Repeated identical warnings/errors are written once per this many seconds, "
        "then summarised with a count (0: write every one).",
    )


ErrorKey = tuple[str, int, str, str]  # logger, level, message template, exception type


@dataclass
class _Window:
    started: float
    message: str
    suppressed: int = 0


class RepeatedErrorSummary(logging.Filter):
    """A handler filter: one line per error key per interval, then a summary with the count.

    The key is (logger, level, message template, exception type); records below ``level``
    pass untouched. Within an interval the first record of a key passes and the others are
    counted; when the interval is over (:meth:`flush`, or the next record of that key) a summary
    record ``"<message> [repeated N more times in 60 s]"`` with ``repeated=N`` is written. Only
    the very first record of a key keeps its traceback; later ones carry ``error`` instead.
    """

    def __init__(
        self,
        handler: logging.Handler,
        *,
        interval_s: float = 60.0,
        level: int = logging.WARNING,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.interval_s = interval_s
        self.level = level
        self.max_keys = max_keys
        self.clock = clock
        self._windows: dict[ErrorKey, _Window] = {}
        self._traced: set[ErrorKey] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        handler.addFilter(self)

    @staticmethod
    def key(record: logging.LogRecord) -> ErrorKey:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        return (record.name, record.levelno, str(record.msg), exc)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        key, now = self.key(record), self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self.interval_s:
                window.suppressed += 1
                return False
            ended = [(key, window)] if window is not None and window.suppressed else []
            if window is None and len(self._windows) >= self.max_keys:
                ended += self._expire(now, everything=True)
            self._windows[key] = _Window(now, record.getMessage())
            first = key not in self._traced
            if first and len(self._traced) < self.max_keys:
                self._traced.add(key)
        self._write(ended)
        if not first and record.exc_info:
            exc = record.exc_info[1]
            setattr(record, "error", f"{type(exc).__name__}: {exc}")  # noqa: B010
            record.exc_info, record.exc_text = None, None
        return True

    def flush(self) -> int:
        """Write the summaries of every interval that is over; returns how many."""
        with self._lock:
            ended = self._expire(self.clock(), everything=False)
        self._write(ended)
        return len(ended)

    def _expire(self, now: float, *, everything: bool) -> list[tuple[ErrorKey, _Window]]:
        over = [
            k for k, w in self._windows.items() if everything or now - w.started >= self.interval_s
        ]
        windows = [(k, self._windows.pop(k)) for k in over]
        return [(k, w) for k, w in windows if w.suppressed]

    def _write(self, ended: list[tuple[ErrorKey, _Window]]) -> None:
        for (name, level, _, _), window in ended:
            summary = logging.LogRecord(
                name,
                level,
                __file__,
                0,
                "%s [repeated %d more times in %.0f s]",
                (window.message, window.suppressed, self.interval_s),
                None,
            )
            summary.__dict__.update(repeated=window.suppressed, interval_s=self.interval_s)
            self.handler.acquire()
            try:
                self.handler.emit(summary)  # not handle(): a summary is never summarised
            finally:
                self.handler.release()

    def start(self) -> None:
        """Flush in a daemon thread, so a storm that stops still gets its summary line."""
        if self._thread is None and self.interval_s > 0:
            self._thread = threading.Thread(target=self._run, name="log-summary", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the flusher and write every pending summary, interval over or not."""
        self._stopped.set()
        with self._lock:
            ended = self._expire(self.clock(), everything=True)
        self._write(ended)

    def _run(self) -> None:
        while not self._stopped.wait(min(self.interval_s, 5.0)):
            self.flush()


@dataclass
class _Installed:
    """What the last :func:`configure_logging` put in place (replaced by the next call)."""

    handler: logging.Handler | None = None
    summary: RepeatedErrorSummary | None = None
    at_exit: bool = False

    def flush(self) -> None:
        """At exit: the pending summaries (before ``logging.shutdown`` closes the handler)."""
        if self.summary is not None:
            self.summary.stop()


_installed = _Installed()


def _handler(output: LogSettings) -> logging.Handler:
    if output.log_file is None:
        return logging.StreamHandler(sys.stderr)
    path = output.log_file.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return RotatingFileHandler(
        path, maxBytes=output.log_max_bytes, backupCount=output.log_backups, encoding="utf-8"
    )


def configure_logging(
    *,
    service: str,
    level: str = "INFO",
    json: bool = True,
    output: LogSettings | None = None,
) -> None:
    """Configure the root logger once, in a composition root (never at import time).

    ``output`` (default: :class:`LogSettings` read from the environment) chooses stderr or a
    size-rotated file and the summary interval of repeated errors.
    """
    output = output or LogSettings()
    handler = _handler(output)
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")
        )
    summary = None
    if output.log_summary_interval_s > 0:
        summary = RepeatedErrorSummary(handler, interval_s=output.log_summary_interval_s)
        summary.start()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if _installed.summary is not None:
        _installed.summary.stop()  # its last summaries go to the handler it was made for
    if _installed.handler is not None:
        _installed.handler.close()
    _installed.handler, _installed.summary = handler, summary
    if not _installed.at_exit:
        atexit.register(_installed.flush)
        _installed.at_exit = True
    root.setLevel(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
