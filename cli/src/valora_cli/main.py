"""The ``valora`` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import json
from typing import Any

import typer

from valora_cli import alerts, contracts, demo, dlq, drift, listings, models, ops, stack, train

app = typer.Typer(help="Valora: event-driven MLOps for real-estate prices.", no_args_is_help=True)
app.add_typer(contracts.app, name="contracts")
app.add_typer(stack.app, name="stack")
app.add_typer(listings.app, name="listings")
app.add_typer(train.app, name="train")
app.add_typer(demo.app, name="demo")
app.add_typer(ops.app, name="ops")
app.add_typer(alerts.app, name="alerts")
app.add_typer(drift.app, name="drift")
app.add_typer(dlq.app, name="dlq")
app.add_typer(models.app, name="models")


def command_tree(command: object) -> dict[str, Any]:
    """``{name: subtree}`` of a click command (a command without sub-commands is ``{}``)."""
    subs: dict[str, Any] = getattr(command, "commands", None) or {}
    return {name: command_tree(sub) for name, sub in sorted(subs.items()) if not sub.hidden}


def settings_envs() -> list[str]:
    """Every ``VALORA_*`` name the CLI's one-shot jobs read (``valora ops ...``)."""
    names: set[str] = set()
    for settings in ops.JOB_SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{name}".upper() for name in settings.model_fields}
    return sorted(names)


@app.command(hidden=True)
def describe() -> None:
    """Print the command tree and the jobs' settings as JSON (read by tools, e.g. the offline
    deployment checks)."""
    tree = command_tree(typer.main.get_command(app))
    typer.echo(json.dumps({"commands": tree, "settings": settings_envs()}))
