"""The drift monitor's layers: ``domain/`` stays pure, so its logic is testable with values."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import valora_drift_monitor.domain as domain

pytestmark = pytest.mark.unit

FORBIDDEN = (
    "aiokafka",
    "asyncpg",
    "faststream",
    "mlflow",
    "prometheus_client",
    "sqlalchemy",
    "valora_db",
    "valora_messaging",
)
OUTER_LAYERS = (
    "valora_drift_monitor.adapters",
    "valora_drift_monitor.entrypoints",
    "valora_drift_monitor.bootstrap",
    "valora_drift_monitor.settings",
)


def _domain_modules() -> list[str]:
    return [f"{domain.__name__}.{m.name}" for m in pkgutil.iter_modules(domain.__path__)]


def test_domain_modules_import_no_outer_layer() -> None:
    offenders = []
    for path in Path(domain.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [(path.name, n) for n in names if n.startswith(OUTER_LAYERS)]
    assert offenders == []


def test_importing_the_domain_loads_no_kafka_database_or_mlflow_client() -> None:
    modules = _domain_modules()
    assert len(modules) >= 8
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
