"""Checks of ``valora <command>`` invocations against the command tree ``valora describe``
prints (the CLI is run, never imported)."""

from __future__ import annotations

from pathlib import Path

from valora_deploycheck.described import DescribeError, cli_commands
from valora_deploycheck.findings import Finding

__all__ = ["check_valora_command"]


def check_valora_command(argv: list[str], where: str, root: Path) -> list[Finding]:
    """``argv`` starts after ``valora``: its first word must be a registered command."""
    if not argv:
        return [Finding("error", where, "`valora` without a command")]
    try:
        tree = cli_commands()
    except DescribeError as exc:
        return [Finding("error", where, f"cannot read the valora command tree: {exc}")]
    cmd = argv[0]
    if cmd in tree:
        subs = tree[cmd]
        words = [a for a in argv[1:] if not a.startswith("-")]
        if subs and words and words[0] not in subs:
            return [Finding("error", where, f"`valora {cmd} {words[0]}` is not a command")]
        return []
    if (root / "cli" / "src" / "valora_cli" / f"{cmd}.py").is_file():
        return [
            Finding(
                "gap",
                "cli/src/valora_cli/main.py",
                f"`valora {cmd}` (used by {where}) exists as valora_cli.{cmd} but is not "
                "registered in the valora app",
            )
        ]
    return [Finding("error", where, f"`valora {cmd}` is not a command of the valora CLI")]
