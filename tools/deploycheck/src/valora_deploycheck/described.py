"""What the applications say about themselves when run: the only way this tool learns them.

A service answers ``python -m valora_<service> describe`` with one JSON line (its settings: env
names, defaults, required; its commands; see ``valora_observability.runner.describe``); the
CLI answers ``valora describe`` with its command tree. Each is run once per process (cached),
in the same interpreter environment, exactly as a container would run it. Nothing here imports
a service or the CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DescribeError",
    "SettingsEnv",
    "cli_commands",
    "cli_settings",
    "describe_module",
    "describe_modules",
    "settings_env",
]

DESCRIBE_TIMEOUT_S = 300.0


class DescribeError(RuntimeError):
    """An application did not describe itself (not installed, crashed, or bad JSON)."""


def _run_json(argv: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=DESCRIBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DescribeError(f"{' '.join(argv[-3:])}: {exc}") from exc
    if done.returncode != 0:
        raise DescribeError(
            f"{' '.join(argv[-3:])} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise DescribeError(f"{' '.join(argv[-3:])} printed no JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DescribeError(f"{' '.join(argv[-3:])} printed {type(data).__name__}, not an object")
    return data


@cache
def describe_module(module: str) -> dict[str, Any]:
    """``python -m <module> describe``, parsed."""
    return _run_json([sys.executable, "-m", module, "describe"])


def describe_modules(modules: Iterable[str]) -> dict[str, dict[str, Any] | DescribeError]:
    """Describe several services at once (in parallel: each is a Python start-up)."""
    wanted = list(modules)

    def one(module: str) -> dict[str, Any] | DescribeError:
        try:
            return describe_module(module)
        except DescribeError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(wanted)))) as pool:
        return dict(zip(wanted, pool.map(one, wanted), strict=True))


def _valora_executable() -> str:
    beside = Path(sys.executable).with_name("valora")
    found = str(beside) if beside.is_file() else shutil.which("valora")
    if found is None:
        raise DescribeError("the valora CLI is not installed (no `valora` executable)")
    return found


@cache
def cli_settings() -> frozenset[str]:
    """``valora describe``: the ``VALORA_*`` names the CLI's one-shot jobs read."""
    names = _run_json([_valora_executable(), "describe"]).get("settings") or []
    return frozenset(str(n) for n in names)


def cli_commands() -> dict[str, Any]:
    """``valora describe``: ``{command: {subcommand: {...}}}`` (a leaf is ``{}``)."""
    commands = _run_json([_valora_executable(), "describe"]).get("commands")
    if not isinstance(commands, dict):
        raise DescribeError("`valora describe` printed no command tree")
    return commands


@dataclass(frozen=True)
class SettingsEnv:
    """The environment interface of one service, as its ``describe`` states it."""

    class_name: str
    by_field: dict[str, tuple[str, ...]]  # field -> accepted env names (upper case)
    required: frozenset[str]  # fields without a default
    defaults: dict[str, Any]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n for names in self.by_field.values() for n in names)

    def env_of(self, field_name: str) -> str:
        return self.by_field[field_name][0]

    def field_of(self, env_name: str) -> str | None:
        up = env_name.upper()
        for name, envs in self.by_field.items():
            if up in envs:
                return name
        return None


def settings_env(description: dict[str, Any]) -> SettingsEnv:
    """The :class:`SettingsEnv` of one ``describe`` answer."""
    fields: dict[str, dict[str, Any]] = description["settings"]
    return SettingsEnv(
        class_name=str(description.get("settings_class", "?")),
        by_field={name: tuple(str(e).upper() for e in f["env"]) for name, f in fields.items()},
        required=frozenset(name for name, f in fields.items() if f.get("required")),
        defaults={name: f.get("default") for name, f in fields.items() if not f.get("required")},
    )
