"""Every service shows its layers (see docs/architecture.md): ``domain/`` (pure logic),
``adapters/`` (Kafka, PostgreSQL, MLflow), ``service_layer/`` (use cases over both, the trainer's
run), ``entrypoints/`` (subscribers, routes, CLIs) and ``bootstrap.py`` (wiring). Flat beside
them only the composition root, settings, the trainer's training config and typed errors; and a
domain imports no outer layer and no I/O library, so its logic runs on fakes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p for p in (ROOT / "services").glob("*/src/valora_*") if p.is_dir())
LAYERS = {"adapters", "domain", "entrypoints", "service_layer"}
FLAT = {"__init__.py", "__main__.py", "bootstrap.py", "errors.py", "settings.py", "config.py"}
IO_LIBRARIES = {
    "aiokafka",
    "asyncpg",
    "faststream",
    "httpx",
    "mlflow",
    "prometheus_client",
    "psycopg",
    "sqlalchemy",
    "valora_db",
    "valora_messaging",
}
NO_DOMAIN = {"valora_validator": "its rules are the data contract, in contracts/"}
OUTER = ("adapters", "entrypoints", "service_layer", "bootstrap", "settings")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_every_service_is_found() -> None:
    assert {p.name for p in SERVICES} == {
        "valora_drift_monitor",
        "valora_gateway",
        "valora_ingestion",
        "valora_predictor",
        "valora_trainer",
        "valora_validator",
    }


@pytest.mark.parametrize("package", SERVICES, ids=lambda p: p.name)
def test_service_package_shows_its_layers(package: Path) -> None:
    flat = {p.name for p in package.glob("*.py")}
    folders = {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert flat <= FLAT, f"modules outside the layers: {sorted(flat - FLAT)}"
    assert folders <= LAYERS, f"folders that are not layers: {sorted(folders - LAYERS)}"
    assert "entrypoints" in folders
    assert "bootstrap.py" in flat


@pytest.mark.parametrize("package", SERVICES, ids=lambda p: p.name)
def test_domain_imports_no_outer_layer_and_no_io_library(package: Path) -> None:
    files = sorted((package / "domain").glob("*.py"))
    if package.name in NO_DOMAIN:
        assert files == [], f"{package.name} has a domain now: remove it from NO_DOMAIN"
        return
    assert len(files) >= 2, f"{package.name} has no domain/"
    outer = tuple(f"{package.name}.{layer}" for layer in OUTER)
    offenders = [
        (path.name, name)
        for path in files
        for name in _imports(path)
        if name.startswith(outer) or name.split(".")[0] in IO_LIBRARIES
    ]
    assert offenders == []
