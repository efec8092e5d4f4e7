"""``valora contracts``: export and check the JSON Schemas of every event, list the topics, and
write the AsyncAPI document of every topic (``asyncapi``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from valora_contracts import ALL_TOPICS, export_schemas, render_schemas

app = typer.Typer(
    help="Event contracts: JSON Schemas and the topic registry.", no_args_is_help=True
)
console = Console()

DEFAULT_DIR = Path("contracts/schemas")


@app.command()
def export(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the schemas.")
    ] = DEFAULT_DIR,
) -> None:
    """Write every event's JSON Schema (commit the result: a test pins them)."""
    written = export_schemas(directory)
    console.print(f"wrote {len(written)} schemas to {directory}")


@app.command()
def check(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the pinned schemas are.")
    ] = DEFAULT_DIR,
) -> None:
    """Fail if the pinned schemas differ from the code."""
    rendered = render_schemas()
    stale = sorted(
        name
        for name, text in rendered.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    )
    extra = sorted(p.name for p in directory.glob("*.json") if p.name not in rendered)
    if stale or extra:
        console.print(f"[red]schemas out of date:[/red] {', '.join(stale + extra)}")
        console.print("run `valora contracts export` and commit the change deliberately")
        raise typer.Exit(1)
    console.print(f"{len(rendered)} schemas up to date")


@app.command()
def topics() -> None:
    """List the topic registry."""
    table = Table("topic", "key", "partitions", "event")
    for topic in ALL_TOPICS:
        table.add_row(topic.name, topic.key, str(topic.partitions), topic.event.__name__)
    console.print(table)


@app.command("asyncapi")
def asyncapi_doc(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write asyncapi.yaml and asyncapi.html.")
    ] = Path("docs"),
) -> None:
    """Write the AsyncAPI document of every topic (from the services' FastStream apps and the
    contracts; commit the result: a test pins it)."""
    from valora_cli import asyncapi

    written = asyncapi.write(directory, version=ASYNCAPI_VERSION)
    console.print(f"wrote {', '.join(str(p) for p in written)}")


ASYNCAPI_VERSION = "1.0.0"
"""Version of the event catalogue (the topics carry their own .vN)."""
