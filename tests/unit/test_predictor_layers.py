"""The predictor's layers: ``domain/`` (the served model's protocol, the holder, valuing, the
stored row) imports no outer layer and no I/O library, so its logic runs on fakes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import valora_predictor.domain as domain

pytestmark = pytest.mark.unit

IO_LIBRARIES = (
    "aiokafka",
    "asyncpg",
    "faststream",
    "mlflow",
    "prometheus_client",
    "psycopg",
    "sqlalchemy",
    "valora_db",
)
OUTER_LAYERS = (
    "valora_predictor.adapters",
    "valora_predictor.entrypoints",
    "valora_predictor.bootstrap",
    "valora_predictor.settings",
)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_domain_imports_no_outer_layer_and_no_io_library() -> None:
    files = sorted(Path(domain.__path__[0]).glob("*.py"))
    assert len(files) >= 4, "the domain package moved: point the test at it"
    offenders = [
        (path.name, name)
        for path in files
        for name in _imports(path)
        if name.startswith(OUTER_LAYERS) or name.split(".")[0] in IO_LIBRARIES
    ]
    assert offenders == []


def test_service_package_shows_its_layers() -> None:
    root = Path(domain.__path__[0]).parent
    flat = sorted(p.name for p in root.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "bootstrap.py", "errors.py", "settings.py"]
    assert {p.name for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "adapters",
        "domain",
        "entrypoints",
    }
