"""Checks of ``valora <command>`` invocations against the ``valora`` Typer app."""

from __future__ import annotations

import importlib.util

from valora_deploycheck.findings import Finding

__all__ = ["check_valora_command"]


def _commands(path: list[str]) -> set[str] | None:
    """Sub-commands under ``valora <path...>`` (``None`` when ``path`` is a leaf command)."""
    import typer.main
    from valora_cli.main import app

    command: object = typer.main.get_command(app)
    for word in path:
        found = getattr(command, "commands", {}).get(word)
        if found is None:
            return set()
        command = found
    sub = getattr(command, "commands", None)
    return None if sub is None else set(sub)


def _registered() -> set[str]:
    return _commands([]) or set()


def check_valora_command(argv: list[str], where: str) -> list[Finding]:
    """``argv`` starts after ``valora``: its first word must be a registered command."""
    if not argv:
        return [Finding("error", where, "`valora` without a command")]
    cmd = argv[0]
    if cmd in _registered():
        subs = _commands([cmd])
        words = [a for a in argv[1:] if not a.startswith("-")]
        if subs and words and words[0] not in subs:
            return [Finding("error", where, f"`valora {cmd} {words[0]}` is not a command")]
        return []
    if importlib.util.find_spec(f"valora_cli.{cmd}") is not None:
        return [
            Finding(
                "gap",
                "cli/src/valora_cli/main.py",
                f"`valora {cmd}` (used by {where}) exists as valora_cli.{cmd} but is not "
                "registered in the valora app",
            )
        ]
    return [Finding("error", where, f"`valora {cmd}` is not a command of the valora CLI")]
