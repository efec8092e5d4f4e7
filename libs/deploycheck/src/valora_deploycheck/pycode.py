"""Checks of the ``python -c`` snippets that compose and the manifests run: they must compile and
every ``from X import Y`` must resolve against the installed workspace."""

from __future__ import annotations

import ast
import importlib

from valora_deploycheck.findings import Finding

__all__ = ["call_keyword", "check_python_snippet", "python_snippet"]


def python_snippet(command: list[str]) -> str | None:
    """The code of ``python -c CODE`` in an argv, else ``None``."""
    for i, arg in enumerate(command[:-1]):
        if arg == "-c" and i > 0 and command[i - 1].split("/")[-1].startswith("python"):
            return command[i + 1]
    return None


def check_python_snippet(code: str, where: str) -> list[Finding]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [Finding("error", where, f"python -c snippet does not compile: {exc}")]
    out: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                out.append(Finding("error", where, f"cannot import {node.module}: {exc}"))
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    out.append(Finding("error", where, f"{node.module} has no {alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                try:
                    importlib.import_module(alias.name)
                except ImportError as exc:
                    out.append(Finding("error", where, f"cannot import {alias.name}: {exc}"))
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
