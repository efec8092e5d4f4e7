"""``valora drift report``: reference vs current distributions of the latest judged window.

Examples::

    valora drift report                               # drift-report.html (self-contained)
    valora drift report -o drift.png                  # one PNG
    valora drift report --kind prediction --model valora-price

Reads the latest window the drift monitor stored in PostgreSQL (through
:mod:`valora_db.read_models.drift_windows`): per feature
the reference shares (from the champion's profile) and the window's shares on the same bins,
with PSI, the KS / chi-square statistic and the corrected p-value.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from valora_db import create_engine
from valora_db.read_models.drift_windows import JudgedWindow, latest_judged_window
from valora_settings import ValoraSettings

__all__ = ["app", "render_html", "render_png"]

app = typer.Typer(help="Drift reports.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Drift reports."""


class Kind(StrEnum):
    data = "data"
    prediction = "prediction"


async def _latest(settings: ValoraSettings, model: str, kind: str) -> JudgedWindow | None:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        return await latest_judged_window(engine, model_name=model, kind=kind)
    finally:
        await engine.dispose()


def _title(row: JudgedWindow) -> str:
    return (
        f"{row.kind} drift · {row.model_name} v{row.model_version} · window of {row.size} "
        f"({row.window_start:%Y-%m-%d %H:%M:%S} to {row.window_end:%H:%M:%S} UTC)"
    )


def _caption(feature: dict[str, Any]) -> str:
    test = "KS" if feature.get("test") == "ks" else "chi²"
    return (
        f"{feature['feature']}: PSI {feature['psi']:.3f} · {test} {feature['statistic']:.3g} · "
        f"p (corrected) {feature.get('p_adjusted', feature['p_value']):.2g}"
    )


def render_png(row: JudgedWindow) -> bytes:
    """Bar charts, reference vs current, one panel per feature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    features = row.features
    cols = 2 if len(features) > 1 else 1
    rows = (len(features) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.4 * rows), squeeze=False)
    for ax, feature in zip(axes.flat, features, strict=False):
        labels = feature["labels"]
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], feature["reference"], width=0.4, label="reference")
        ax.bar([i + 0.2 for i in x], feature["current"], width=0.4, label="current")
        ax.set_xticks(list(x), labels, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel("share")
        ax.set_title(_caption(feature), fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(features) :]:
        ax.axis("off")
    fig.suptitle(_title(row), fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def render_html(row: JudgedWindow) -> str:
    """A self-contained page: the PNG inlined, plus a table of the statistics."""
    image = base64.b64encode(render_png(row)).decode()
    lines = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                f["feature"],
                f["test"],
                f"{f['psi']:.4f}",
                f"{f['statistic']:.4g}",
                f"{f['p_value']:.3g}",
                f"{f.get('p_adjusted', f['p_value']):.3g}",
                f["size"],
            )
        )
        + "</tr>"
        for f in row.features
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Valora drift report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head>
<body><h1>Valora drift report</h1><p>{html.escape(_title(row))}</p>
<table><tr><th>feature</th><th>test</th><th>PSI</th><th>statistic</th><th>p</th>
<th>p (corrected)</th><th>n</th></tr>{lines}</table>
<p><img alt="reference vs current" src="data:image/png;base64,{image}"></p>
</body></html>
"""


@app.command("report")
def report(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write: .html or .png.")
    ] = Path("drift-report.html"),
    model: Annotated[
        str | None, typer.Option(help="Model name (default: VALORA_MODEL_NAME).")
    ] = None,
    kind: Annotated[Kind, typer.Option(help="data or prediction drift.")] = Kind.data,
) -> None:
    """Render the latest judged window: reference vs current distributions."""
    settings = ValoraSettings()
    name = model or settings.model_name
    row = asyncio.run(_latest(settings, name, kind.value))
    if row is None:
        console.print(f"[red]no {kind.value} window stored for {name} yet[/]")
        raise typer.Exit(1)
    if output.suffix.lower() == ".png":
        output.write_bytes(render_png(row))
    elif output.suffix.lower() in (".html", ".htm"):
        output.write_text(render_html(row), encoding="utf-8")
    else:
        raise typer.BadParameter("output must end in .html or .png")
    console.print(f"wrote {output} ({_title(row)})")
