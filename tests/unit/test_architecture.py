"""The workspace's import rules, checked on the source (AST), not on a hand-kept list.

Kinds come from where a package lives: ``contracts/`` and ``libs/*`` are libraries,
``services/*`` services, ``cli/`` the CLI, ``tools/*`` developer tools. Rules:

(a) a library (or the contracts) imports no service, CLI or tool;
(b) nothing imports a service (services are run, never imported; tests may);
(c) no service imports another service;
(d) a package imports only workspace packages it declares in its own ``pyproject.toml``.

The walk sees every ``import`` / ``from ... import`` in every module of a package, including
imports inside functions and ``TYPE_CHECKING`` blocks (a deferred import is still an arrow).
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "contracts": "contracts",
    "libs": "lib",
    "services": "service",
    "cli": "cli",
    "tools": "tool",
}


@dataclass(frozen=True)
class Package:
    name: str  # distribution name, e.g. valora-db
    kind: str  # contracts | lib | service | cli | tool
    directory: Path
    modules: frozenset[str]  # top-level import names, e.g. {"valora_db"}
    declared: frozenset[str]  # distribution names in [project].dependencies


def _dist_name(spec: str) -> str:
    return re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def workspace_packages(root: Path) -> list[Package]:
    """Every workspace member under contracts/, libs/*, services/*, cli/ and tools/*."""
    members = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    out: list[Package] = []
    for pattern in members["members"]:
        for directory in sorted(root.glob(pattern)):
            pyproject = directory / "pyproject.toml"
            if not pyproject.is_file():
                continue
            meta = tomllib.loads(pyproject.read_text())["project"]
            top = directory.relative_to(root).parts[0]
            modules = frozenset(p.name for p in (directory / "src").iterdir() if p.is_dir())
            out.append(
                Package(
                    name=meta["name"],
                    kind=KINDS[top],
                    directory=directory,
                    modules=modules,
                    declared=frozenset(_dist_name(d) for d in meta.get("dependencies", [])),
                )
            )
    return out


def imported_modules(source: Path) -> set[str]:
    """Top-level names of every module imported by a file (absolute imports only)."""
    tree = ast.parse(source.read_text(), filename=str(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations(packages: list[Package]) -> list[str]:
    """One line per forbidden arrow, ``<package> (<file>): <rule>: imports <module>``."""
    owner = {module: pkg for pkg in packages for module in pkg.modules}
    out: list[str] = []
    for pkg in packages:
        for source in sorted((pkg.directory / "src").rglob("*.py")):
            where = f"{pkg.name} ({source.relative_to(pkg.directory)})"
            for module in sorted(imported_modules(source)):
                target = owner.get(module)
                if target is None or target is pkg:
                    continue
                if pkg.kind in ("lib", "contracts") and target.kind in ("service", "cli", "tool"):
                    out.append(f"{where}: (a) a library imports the {target.kind} {module}")
                if target.kind == "service":
                    rule = "(c) a service imports" if pkg.kind == "service" else "(b) imports"
                    out.append(f"{where}: {rule} the service {module}")
                if target.name not in pkg.declared:
                    out.append(f"{where}: (d) imports {module} but does not declare {target.name}")
    return out


def test_the_workspace_keeps_its_import_rules() -> None:
    packages = workspace_packages(ROOT)
    kinds = {p.kind for p in packages}
    assert kinds == {"contracts", "lib", "service", "cli", "tool"}, kinds
    found = violations(packages)
    assert not found, "\n".join(found)


def _package(root: Path, where: str, module: str, deps: list[str], code: str) -> None:
    directory = root / where
    (directory / "src" / module).mkdir(parents=True)
    (directory / "src" / module / "__init__.py").write_text(code)
    name = module.replace("_", "-")
    quoted = ", ".join(f'"{d}"' for d in deps)
    (directory / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0"\ndependencies = [{quoted}]\n'
    )


def test_each_rule_fires_on_a_workspace_that_breaks_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["contracts", "libs/*", "services/*", "cli", "tools/*"]\n'
    )
    _package(tmp_path, "contracts", "x_contracts", [], "")
    _package(tmp_path, "libs/db", "x_db", ["x-contracts"], "import x_contracts\nimport x_cli\n")
    _package(tmp_path, "services/a", "x_a", ["x-db"], "from x_db import engine\n")
    _package(tmp_path, "services/b", "x_b", ["x-a"], "def f():\n    from x_a.handlers import h\n")
    _package(tmp_path, "cli", "x_cli", [], "import x_db\n")
    _package(tmp_path, "tools/t", "x_t", ["x-a"], "import x_a.settings\n")
    found = violations(workspace_packages(tmp_path))
    assert sorted(found) == sorted(
        [
            "x-db (src/x_db/__init__.py): (a) a library imports the cli x_cli",
            "x-db (src/x_db/__init__.py): (d) imports x_cli but does not declare x-cli",
            "x-b (src/x_b/__init__.py): (c) a service imports the service x_a",
            "x-cli (src/x_cli/__init__.py): (d) imports x_db but does not declare x-db",
            "x-t (src/x_t/__init__.py): (b) imports the service x_a",
        ]
    )
