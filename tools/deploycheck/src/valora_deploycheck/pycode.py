"""Checks of the ``python -c`` snippets that compose and the manifests run: they must compile and
every ``import X`` / ``from X import Y`` must resolve against the installed workspace (tried in
a child interpreter: the imports only, never the snippet, never in this process)."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache

from valora_deploycheck.findings import Finding

__all__ = ["call_keyword", "check_python_snippet", "python_snippet"]


def python_snippet(command: list[str]) -> str | None:
    """The code of ``python -c CODE`` in an argv, else ``None``."""
    for i, arg in enumerate(command[:-1]):
        if arg == "-c" and i > 0 and command[i - 1].split("/")[-1].startswith("python"):
            return command[i + 1]
    return None


@cache
def _import_error(statements: str) -> str | None:
    """The error of running only these import statements in a fresh interpreter, or None."""
    done = subprocess.run(
        [sys.executable, "-c", statements], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def check_python_snippet(code: str, where: str) -> list[Finding]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [Finding("error", where, f"python -c snippet does not compile: {exc}")]
    out: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            statement = ast.unparse(node)
            error = _import_error(statement)
            if error is not None:
                out.append(Finding("error", where, f"`{statement}` fails: {error}"))
    return out


def call_keyword(code: str, function: str, keyword: str) -> str | None:
    """Source of the ``keyword=`` argument of the first call to ``function`` in ``code``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == function:
                for kw in node.keywords:
                    if kw.arg == keyword:
                        return ast.unparse(kw.value)
    return None
