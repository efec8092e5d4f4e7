"""``valora stack``: the local dev stack (real Kafka, PostgreSQL, MLflow as processes)."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from valora_devstack import (
    ComponentStatus,
    DevstackError,
    DevstackSettings,
    State,
    parse_replicas,
)
from valora_devstack import stack as devstack

app = typer.Typer(
    help="Local dev stack: Apache Kafka (KRaft), PostgreSQL and MLflow as local processes.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

_STATE_STYLE = {
    State.RUNNING: "green",
    State.STOPPED: "dim",
    State.UNHEALTHY: "red",
    State.FROZEN: "cyan",
}
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _ExtraFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` (shows the ``extra=`` fields)."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        return base + "".join(f" {k}={v}" for k, v in extra.items())


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        _ExtraFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiokafka", "httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _table(statuses: list[ComponentStatus], seconds: dict[str, float] | None = None) -> Table:
    table = Table(title="valora dev stack")
    for col in ("component", "state", "pid", "address"):
        table.add_column(col)
    if seconds is not None:
        table.add_column("up (s)", justify="right")
    table.add_column("detail", style="dim")
    for s in statuses:
        row = [
            s.name,
            f"[{_STATE_STYLE[s.state]}]{s.state.value}[/]",
            str(s.pid) if s.pid is not None else "-",
            s.address,
        ]
        if seconds is not None:
            row.append(f"{seconds[s.name]:.1f}" if s.name in seconds else "-")
        row.append(s.detail)
        table.add_row(*row)
    return table


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="Only these components (repeatable), e.g. --only kafka; a service name means all "
        "its replicas, validator-1 one replica.",
    ),
]
Replicas = Annotated[
    list[str] | None,
    typer.Option(
        "--replicas",
        help="Replicas per service, e.g. --replicas validator=2,ingestion=2 (replica i>0 is "
        "<service>-<i> on port+100*i with its own log and instance/transactional id).",
    ),
]


@app.command()
def up(verbose: Verbose = False, only: Only = None, replicas: Replicas = None) -> None:
    """Start whatever is not running (idempotent), wait until healthy, create topics, migrate."""
    _configure_logging(verbose)
    try:
        result = devstack.up(
            DevstackSettings(), only=only or None, replicas=parse_replicas(replicas)
        )
    except DevstackError as exc:
        err_console.print(f"[red]stack up failed:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(_table(result.statuses, result.seconds))
    started = ", ".join(result.started) or "nothing (all running)"
    console.print(f"started: {started}")


@app.command()
def fetch(verbose: Verbose = False) -> None:
    """Download the Kafka broker jars (Maven) into the cache and locate PostgreSQL's binaries."""
    _configure_logging(verbose)
    try:
        found = devstack.fetch(DevstackSettings())
    except DevstackError as exc:
        err_console.print(f"[red]stack fetch failed:[/] {exc}")
        raise typer.Exit(1) from exc
    for key, value in found.items():
        console.print(f"{key}: {value}")


@app.command()
def down(verbose: Verbose = False, only: Only = None) -> None:
    """Stop every dev-stack process (whole process groups) and wait until its ports are free."""
    _configure_logging(verbose)
    try:
        stopped = devstack.down(DevstackSettings(), only=only or None)
    except DevstackError as exc:
        err_console.print(f"[red]stack down failed:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"stopped: {', '.join(stopped) or 'nothing (none running)'}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Per component: state (running / stopped / unhealthy), pid and address."""
    settings = DevstackSettings()
    statuses = devstack.status(settings)
    if as_json:
        info = devstack.info(settings)
        payload: dict[str, Any] = {
            "components": [
                {"name": s.name, "state": s.state.value, "pid": s.pid, "address": s.address}
                for s in statuses
            ],
            "kafka_bootstrap_servers": info.kafka_bootstrap_servers,
            "database_url": info.database_url,
            "mlflow_tracking_uri": info.mlflow_tracking_uri,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    console.print(_table(statuses))
