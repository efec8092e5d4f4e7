"""Small files and small functions: no module outside tests over 300 lines, no function over 80.

A newcomer reads a file in one sitting and a function on one screen; a module that grows past
this is doing several things and is split (migrations, generated data and vendored schemas are
not code anyone reads this way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CODE = ("contracts", "libs", "services", "tools", "cli", "kubeflow")
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    found = [
        path
        for top in CODE
        for path in (ROOT / top).rglob("*.py")
        if "migrations" not in path.parts and ".venv" not in path.parts
    ]
    assert len(found) > 100, "the scan found too few modules: is it looking in the right place?"
    return found


def test_no_module_is_longer_than_300_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_80_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert long == {}


def test_test_modules_have_unique_names_across_the_tiers() -> None:
    """pytest imports test modules by their base name (no packages): two tiers with the same
    module name break collection of ``pytest tests``."""
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
