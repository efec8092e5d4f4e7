"""``valora listings``: publish listings (a file or synthetic ones) to the ingest topic.

Examples::

    valora listings publish houses.csv                 # CSV, JSONL or Parquet; either naming
    valora listings publish --synthetic 10000 --seed 7
    valora listings publish --synthetic 5000 --drift shift:area=1.3 \\
        --drift "mix:Centro=0.5,Zona Sul=0.1" --drift inflate=1.2
    valora listings publish --synthetic 5000 --drift-file drift.yaml

Rows that cannot be read (bad JSON, wrong column count, missing features) are reported with
their line number and skipped; everything else is judged by the ingestion service. Files are
read by the same rules as the gateway's batch-job uploads (:mod:`valora_ml.listing_files`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from valora_contracts import LISTINGS_RAW
from valora_messaging import KafkaSettings, kafka_security, prepare_topics
from valora_ml import DriftSpecError
from valora_ml.listing_files import (
    BadRow,
    FileRow,
    ListingFileError,
    ListingFormat,
    ListingRow,
    listing_format,
    read_listing_file,
)
from valora_ml.synthetic import DriftSpec, generate_listings, iter_records

__all__ = ["Naming", "app", "read_rows"]

app = typer.Typer(help="Publish listings to the ingest topic.", no_args_is_help=True)
logger = logging.getLogger(__name__)
console = Console(stderr=True)

_WINDOW = 5000
_SHOW_BAD_ROWS = 20


class Naming(StrEnum):
    en = "en"
    pt = "pt"


class FileFormat(StrEnum):
    auto = "auto"
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


_FORMATS: dict[FileFormat, ListingFormat] = {
    FileFormat.csv: "csv",
    FileFormat.jsonl: "jsonl",
    FileFormat.parquet: "parquet",
}


@dataclass
class Tally:
    published: int = 0
    bad: list[BadRow] = field(default_factory=list)


def read_rows(path: Path, fmt: FileFormat = FileFormat.auto) -> Iterator[FileRow]:
    """Rows of a CSV, JSONL or Parquet file by the shared listing-file rules
    (:mod:`valora_ml.listing_files`)."""
    if fmt is not FileFormat.auto:
        return read_listing_file(path, _FORMATS[fmt])
    try:
        return read_listing_file(path, listing_format(path.name))
    except ListingFileError as exc:
        raise typer.BadParameter(f"cannot tell the format of {path.name}; use --format") from exc


def _drift_spec(items: list[str], drift_file: Path | None) -> DriftSpec:
    spec = DriftSpec()
    if drift_file is not None:
        spec = DriftSpec.model_validate(yaml.safe_load(drift_file.read_text(encoding="utf-8")))
    return spec.merge(DriftSpec.from_cli(items))


async def _publish(
    records: Iterator[dict[str, Any] | FileRow],
    *,
    total: int | None,
    settings: KafkaSettings,
    source: str,
    tally: Tally,
) -> None:
    await prepare_topics(settings=settings, topics=[LISTINGS_RAW])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-cli",
        acks="all",
        enable_idempotence=True,
        linger_ms=max(settings.kafka_linger_ms, 5),
        max_batch_size=max(settings.kafka_max_batch_size, 512 * 1024),
        **kafka_security(settings),
    )
    await producer.start()
    topic = LISTINGS_RAW.name
    try:
        with Progress(
            TextColumn("[bold]publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} listings/s"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("publish", total=total, rate=0.0)
            started = time.perf_counter()
            pending: list[asyncio.Future[Any]] = []
            seen = 0
            for item in records:
                seen += 1
                if isinstance(item, BadRow):
                    tally.bad.append(item)
                    continue
                values = item.values if isinstance(item, ListingRow) else item
                values.setdefault("source", source)
                listing_id = values.get("listing_id")
                key = str(listing_id).encode() if listing_id not in (None, "") else None
                pending.append(await producer.send(topic, orjson.dumps(values), key=key))
                if len(pending) >= _WINDOW:
                    await asyncio.gather(*pending)
                    tally.published += len(pending)
                    pending.clear()
                    rate = tally.published / max(time.perf_counter() - started, 1e-9)
                    progress.update(task, completed=seen, rate=rate)
            await asyncio.gather(*pending)
            tally.published += len(pending)
            rate = tally.published / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=seen, total=total or seen, rate=rate)
    finally:
        await producer.stop()


@app.command()
def publish(
    file: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="CSV, JSONL or Parquet file."),
    ] = None,
    synthetic: Annotated[
        int | None, typer.Option("--synthetic", min=1, help="Publish N synthetic listings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic generator.")] = None,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            "--drift",
            help="Drift of synthetic listings, repeatable: shift:FEATURE=FACTOR, "
            "mix:NEIGHBOURHOOD=WEIGHT[,...], inflate=FACTOR.",
        ),
    ] = None,
    drift_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="YAML/JSON DriftSpec for synthetic data."),
    ] = None,
    naming: Annotated[
        Naming, typer.Option(help="Field names of synthetic listings: en or pt (older API).")
    ] = Naming.en,
    source: Annotated[
        str | None, typer.Option(help="Source stamped on records that name none.")
    ] = None,
    file_format: Annotated[
        FileFormat, typer.Option("--format", help="File format (default: from the extension).")
    ] = FileFormat.auto,
) -> None:
    """Publish listings from FILE, or --synthetic N generated ones, to the ingest topic."""
    if (file is None) == (synthetic is None):
        raise typer.BadParameter("give either FILE or --synthetic N (not both)")
    settings = KafkaSettings()
    records: Iterator[dict[str, Any] | FileRow]
    if synthetic is not None:
        try:
            spec = _drift_spec(drift or [], drift_file)
        except (DriftSpecError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--drift") from exc
        frame = generate_listings(synthetic, seed=seed, drift=spec)
        records = iter(iter_records(frame, naming=naming.value))
        total: int | None = synthetic
        default_source = source or "synthetic"
    else:
        assert file is not None
        if drift or drift_file:
            raise typer.BadParameter("--drift applies to --synthetic only")
        records = read_rows(file, file_format)
        total = None
        default_source = source or f"file:{file.name}"

    tally = Tally()
    started = time.perf_counter()
    try:
        asyncio.run(
            _publish(records, total=total, settings=settings, source=default_source, tally=tally)
        )
    except (OSError, ListingFileError) as exc:
        console.print(f"[red]cannot read input: {exc}[/red]")
        raise typer.Exit(2) from exc
    elapsed = time.perf_counter() - started
    for bad in tally.bad[:_SHOW_BAD_ROWS]:
        console.print(f"[yellow]line {bad.line}: {bad.reason}[/yellow]")
    if len(tally.bad) > _SHOW_BAD_ROWS:
        console.print(f"[yellow]... and {len(tally.bad) - _SHOW_BAD_ROWS} more bad rows[/yellow]")
    rate = tally.published / elapsed if elapsed > 0 else 0.0
    typer.echo(
        f"published {tally.published} listings to {LISTINGS_RAW.name}, "
        f"{len(tally.bad)} bad rows skipped, in {elapsed:.1f} s ({rate:,.0f} listings/s)"
    )
