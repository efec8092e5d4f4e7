"""Every reader reads committed data only (records of aborted transactions never arrive).

Ingestion and the validator write their outputs, dead letters and offsets in transactions; an
aborted transaction (a crash, a fenced zombie) leaves records in the log that only a
``read_uncommitted`` reader would see, as duplicates. Two checks: every subscriber of every
service app is ``read_committed``; every hand-made ``AIOKafkaConsumer`` in the code and the
tests says ``isolation_level="read_committed"``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICE_APPS = [
    "valora_ingestion.bootstrap",
    "valora_validator.bootstrap",
    "valora_predictor.bootstrap",
    "valora_trainer.bootstrap",
    "valora_drift_monitor.bootstrap",
]


def _subscribers(module_name: str) -> list[Any]:
    module = importlib.import_module(module_name)
    app = module.build_app(configure_logs=False)
    broker = getattr(app, "broker", None)
    assert broker is not None, f"{module_name}.build_app() has no FastStream broker"
    return list(broker.subscribers)


@pytest.mark.parametrize("module_name", SERVICE_APPS)
def test_every_subscriber_of_every_service_reads_committed_data(module_name: str) -> None:
    subscribers = _subscribers(module_name)
    assert subscribers, f"{module_name} subscribes to nothing"
    uncommitted = [
        ",".join(s.topic_names)
        for s in subscribers
        if s._connection_args.get("isolation_level") != "read_committed"
    ]
    assert uncommitted == []


def _consumer_calls(path: Path) -> Iterator[tuple[int, bool]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "AIOKafkaConsumer":
                committed = any(
                    k.arg == "isolation_level"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value == "read_committed"
                    for k in node.keywords
                )
                yield node.lineno, committed


def test_every_hand_made_consumer_reads_committed_data() -> None:
    roots = [ROOT / d for d in ("cli", "libs", "services", "tools", "tests")]
    files = [p for r in roots if r.exists() for p in r.rglob("*.py") if ".venv" not in p.parts]
    found = [(p, line, ok) for p in files for line, ok in _consumer_calls(p)]
    assert len(found) >= 5, "the scan found no consumers: it is not looking in the right place"
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p, line, ok in found if not ok]
    assert offenders == []
