"""Logs stay bounded under an error storm: repeated identical errors are summarised, and a log
file rotates by size (valora_observability.logs)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from valora_observability import LogSettings, RepeatedErrorSummary, configure_logging

pytestmark = pytest.mark.unit


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def storm() -> Iterator[tuple[logging.Logger, _Collect, RepeatedErrorSummary, _Clock]]:
    handler, clock = _Collect(), _Clock()
    summary = RepeatedErrorSummary(handler, interval_s=60.0, clock=clock)
    logger = logging.getLogger("valora.test.storm")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, handler, summary, clock
    logger.removeHandler(handler)
    logger.propagate = True


def _fail(logger: logging.Logger, topic: str) -> None:
    try:
        raise ValueError(f"bad record on {topic}")
    except ValueError:
        logger.exception("handler failed on %s", topic)


def test_identical_errors_in_one_interval_are_one_line_and_one_summary(
    storm: tuple[logging.Logger, _Collect, RepeatedErrorSummary, _Clock],
) -> None:
    logger, handler, summary, clock = storm
    for i in range(500):
        clock.now += 0.1  # 50 s in all: one interval
        _fail(logger, "t.v1")
        if i == 0:
            assert len(handler.records) == 1
    assert len(handler.records) == 1
    assert handler.records[0].exc_info is not None  # the first one keeps its traceback
    assert summary.flush() == 0  # the interval is not over yet
    clock.now += 11
    assert summary.flush() == 1
    assert len(handler.records) == 2
    line = handler.records[1]
    assert (line.name, line.levelno, getattr(line, "repeated", None)) == (
        "valora.test.storm",
        logging.ERROR,
        499,
    )
    assert line.getMessage() == "handler failed on t.v1 [repeated 499 more times in 60 s]"
    assert summary.flush() == 0  # said once


def test_a_new_interval_writes_one_line_without_the_traceback_and_the_old_count(
    storm: tuple[logging.Logger, _Collect, RepeatedErrorSummary, _Clock],
) -> None:
    logger, handler, _, clock = storm
    for _ in range(3):
        _fail(logger, "t.v1")
    clock.now += 61
    _fail(logger, "t.v1")
    assert [getattr(r, "repeated", None) for r in handler.records] == [None, 2, None]
    again = handler.records[2]
    assert again.exc_info is None
    assert getattr(again, "error", None) == "ValueError: bad record on t.v1"


def test_different_errors_and_info_lines_are_not_summarised(
    storm: tuple[logging.Logger, _Collect, RepeatedErrorSummary, _Clock],
) -> None:
    logger, handler, summary, clock = storm
    for _ in range(3):
        logger.info("consumed a batch")
        logger.error("cannot reach %s", "kafka")
        _fail(logger, "t.v1")
    logger.warning("cannot reach %s", "kafka")  # another level: another key
    messages = [r.getMessage() for r in handler.records]
    assert messages.count("consumed a batch") == 3
    assert messages.count("cannot reach kafka") == 2  # one ERROR, one WARNING
    assert messages.count("handler failed on t.v1") == 1
    clock.now += 60
    summary.flush()
    repeated = sorted(
        (r.getMessage(), r.repeated) for r in handler.records if hasattr(r, "repeated")
    )
    assert repeated == [
        ("cannot reach kafka [repeated 2 more times in 60 s]", 2),
        ("handler failed on t.v1 [repeated 2 more times in 60 s]", 2),
    ]


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    configure_logging(service="restore", output=LogSettings(log_summary_interval_s=0))
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_log_file_rotates_by_size_and_keeps_a_bounded_number_of_files(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "logs" / "svc.log"
    output = LogSettings(log_file=path, log_max_bytes=8192, log_backups=2)
    configure_logging(service="svc", level="INFO", json=True, output=output)
    for i in range(2000):
        logging.getLogger("valora.test.file").info("line %d of a chatty service", i)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["svc.log", "svc.log.1", "svc.log.2"]
    assert all(p.stat().st_size <= 8192 for p in path.parent.iterdir())
    last = json.loads(path.read_text().splitlines()[-1])
    assert (last["message"], last["service"]) == ("line 1999 of a chatty service", "svc")


def test_configure_logging_summarises_an_error_storm_in_the_file(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "svc.log"
    configure_logging(service="svc", output=LogSettings(log_file=path))
    for _ in range(1000):
        _fail(logging.getLogger("valora.test.file"), "t.v1")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["message"] for line in lines] == ["handler failed on t.v1"]
    assert "Traceback" in lines[0]["exc_info"]


def test_a_process_that_exits_mid_interval_still_writes_its_summary(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "storm.py"
    script.write_text(
        "import logging\n"
        "from valora_observability import configure_logging\n"
        "configure_logging(service='s', json=True)\n"
        "for _ in range(5):\n"
        "    logging.getLogger('x').error('broker %s down', 'b1')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["message"], line.get("repeated")) for line in lines] == [
        ("broker b1 down", None),
        ("broker b1 down [repeated 4 more times in 60 s]", 4),
    ]
