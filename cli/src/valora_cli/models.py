"""``valora models status``: the champion, the challenger shadowing it, the paired figures on
realised sales so far, and the decisions.

Examples::

    valora models status
    valora models status --model valora-price --json

The aliases come from the MLflow registry; the paired figures and decisions from the drift
monitor's evaluations in PostgreSQL (:mod:`valora_db.read_models.shadow_evaluations`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from valora_db import create_engine
from valora_db.read_models.shadow_evaluations import ChallengerEvaluation, challenger_evaluations
from valora_ml.pricemodel import CHALLENGER_ALIAS, CHAMPION_ALIAS
from valora_ml.tracking import use_tracking_server
from valora_settings import ValoraSettings

__all__ = ["app", "status_document"]

app = typer.Typer(help="Registered models: champion, challenger, decisions.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Registered models: champion, challenger, decisions."""


def _aliases(settings: ValoraSettings, name: str) -> dict[str, str | None]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    use_tracking_server(
        settings.mlflow_url_str,
        username=settings.mlflow_username,
        password=settings.mlflow_password,
    )
    client = MlflowClient(tracking_uri=settings.mlflow_url_str)
    found: dict[str, str | None] = {}
    for alias in (CHAMPION_ALIAS, CHALLENGER_ALIAS):
        try:
            found[alias] = str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            found[alias] = None
    return found


async def _evaluations(settings: ValoraSettings, name: str) -> list[ChallengerEvaluation]:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        return await challenger_evaluations(engine, model_name=name)
    finally:
        await engine.dispose()


def status_document(
    name: str, aliases: dict[str, str | None], evaluations: list[ChallengerEvaluation]
) -> dict[str, Any]:
    """What ``status`` prints, as JSON-ready data."""
    return {
        "model_name": name,
        "champion": aliases.get(CHAMPION_ALIAS),
        "challenger": aliases.get(CHALLENGER_ALIAS),
        "evaluations": [
            {
                "challenger_version": e.challenger_version,
                "champion_version": e.champion_version,
                "started_at": e.started_at.isoformat(),
                "paired_sales": e.paired_sales,
                "figures": e.figures,
                "decision": e.decision,
                "explanation": e.explanation,
                "decided_at": e.decided_at.isoformat() if e.decided_at else None,
            }
            for e in evaluations
        ],
    }


def _number(figures: dict[str, Any], key: str, style: str) -> str:
    value = figures.get(key)
    if value is None:
        return "-"
    return format(float(value), style)


@app.command("status")
def status(
    model: Annotated[
        str | None, typer.Option(help="Model name (default: VALORA_MODEL_NAME).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Champion, challenger, the paired figures on realised sales so far, and the decisions."""
    settings = ValoraSettings()
    name = model or settings.model_name
    document = status_document(
        name, _aliases(settings, name), asyncio.run(_evaluations(settings, name))
    )
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    champion, challenger = document["champion"], document["challenger"]
    console.print(
        f"[bold]{name}[/]: champion {'v' + champion if champion else 'none'}, "
        f"challenger {'v' + challenger if challenger else 'none'}"
    )
    table = Table(title="challengers judged on realised sales (newest first)")
    for column in ("challenger", "vs", "paired sales", "MAE chall. / champ.", "MAPE",
                   "coverage", "p (look)", "decision"):  # fmt: skip
        table.add_column(column)
    for e in document["evaluations"]:
        f = e["figures"]
        table.add_row(
            f"v{e['challenger_version']}",
            f"v{e['champion_version']}",
            str(e["paired_sales"]),
            f"{_number(f, 'challenger_mae', ',.0f')} / {_number(f, 'champion_mae', ',.0f')}",
            f"{_number(f, 'challenger_mape', '.1%')} / {_number(f, 'champion_mape', '.1%')}",
            f"{_number(f, 'challenger_coverage', '.2f')} / "
            f"{_number(f, 'champion_coverage', '.2f')}",
            f"{_number(f, 'p_value', '.2g')} ({f.get('look', 0)})",
            (e["decision"] or "shadowing") + (f": {e['explanation']}" if e["explanation"] else ""),
        )
    console.print(table)
