"""``valora listings``: publish listings (a file or synthetic ones) to the ingest topic.

Examples::

    valora listings publish houses.csv                 # CSV, JSONL or Parquet; either naming
    valora listings publish --synthetic 10000 --seed 7
    valora listings publish --synthetic 5000 --drift shift:area=1.3 \\
        --drift "mix:Centro=0.5,Zona Sul=0.1" --drift inflate=1.2
    valora listings publish --synthetic 5000 --drift-file drift.yaml

Rows that cannot be read (bad JSON, wrong column count, missing features) are reported with
their row number and skipped; everything else is judged by the ingestion service.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import math
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
from valora_messaging import KafkaSettings, ensure_topics
from valora_ml import DriftSpecError
from valora_ml.synthetic import DriftSpec, generate_listings, iter_records

__all__ = ["BadRow", "Naming", "app", "read_rows"]

app = typer.Typer(help="Publish listings to the ingest topic.", no_args_is_help=True)
logger = logging.getLogger(__name__)
console = Console(stderr=True)

_FEATURES: tuple[tuple[str, str], ...] = (
    ("area", "area"),
    ("bedrooms", "quartos"),
    ("bathrooms", "banheiros"),
    ("age", "idade"),
    ("garage", "garagem"),
    ("neighbourhood", "bairro"),
)
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


@dataclass(frozen=True)
class BadRow:
    row: int
    reason: str


@dataclass
class Tally:
    published: int = 0
    bad: list[BadRow] = field(default_factory=list)


def _missing_features(record: dict[str, Any]) -> list[str]:
    return [
        en for en, pt in _FEATURES if record.get(en) in (None, "") and record.get(pt) in (None, "")
    ]


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """Drop empty cells and NaN (missing in CSV/Parquet) so they read as absent."""
    return {
        k: v
        for k, v in record.items()
        if v is not None and v != "" and not (isinstance(v, float) and math.isnan(v))
    }


def _format_of(path: Path, fmt: FileFormat) -> FileFormat:
    if fmt is not FileFormat.auto:
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return FileFormat.jsonl
    if suffix in (".parquet", ".pq"):
        return FileFormat.parquet
    if suffix in (".csv", ".tsv", ".txt"):
        return FileFormat.csv
    raise typer.BadParameter(f"cannot tell the format of {path.name}; use --format")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, BadRow(number, f"invalid JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield number, BadRow(number, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield number, value


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, BadRow(number, "more cells than header columns")
            elif any(v is None for v in row.values()):
                yield number, BadRow(number, "fewer cells than header columns")
            else:
                yield number, {k.strip(): v.strip() for k, v in row.items() if k}


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def read_rows(path: Path, fmt: FileFormat = FileFormat.auto) -> Iterator[dict[str, Any] | BadRow]:
    """Rows of a CSV, JSONL or Parquet file as dicts, or :class:`BadRow` with the reason."""
    readers = {
        FileFormat.jsonl: _read_jsonl,
        FileFormat.csv: _read_csv,
        FileFormat.parquet: _read_parquet,
    }
    for number, item in readers[_format_of(path, fmt)](path):
        if isinstance(item, BadRow):
            yield item
            continue
        record = _clean(item)
        missing = _missing_features(record)
        yield BadRow(number, f"missing feature(s): {', '.join(missing)}") if missing else record


def _drift_spec(items: list[str], drift_file: Path | None) -> DriftSpec:
    spec = DriftSpec()
    if drift_file is not None:
        spec = DriftSpec.model_validate(yaml.safe_load(drift_file.read_text(encoding="utf-8")))
    return spec.merge(DriftSpec.from_cli(items))


async def _publish(
    records: Iterator[dict[str, Any] | BadRow],
    *,
    total: int | None,
    settings: KafkaSettings,
    source: str,
    tally: Tally,
) -> None:
    await ensure_topics(bootstrap_servers=settings.kafka_bootstrap_servers, topics=[LISTINGS_RAW])
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_list,
        client_id=f"{settings.kafka_client_id}-cli",
        acks="all",
        enable_idempotence=True,
        linger_ms=max(settings.kafka_linger_ms, 5),
        max_batch_size=max(settings.kafka_max_batch_size, 512 * 1024),
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
                item.setdefault("source", source)
                listing_id = item.get("listing_id")
                key = str(listing_id).encode() if listing_id not in (None, "") else None
                pending.append(await producer.send(topic, orjson.dumps(item), key=key))
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
    records: Iterator[dict[str, Any] | BadRow]
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
    except OSError as exc:
        console.print(f"[red]cannot read input: {exc}[/red]")
        raise typer.Exit(2) from exc
    elapsed = time.perf_counter() - started
    for bad in tally.bad[:_SHOW_BAD_ROWS]:
        console.print(f"[yellow]row {bad.row}: {bad.reason}[/yellow]")
    if len(tally.bad) > _SHOW_BAD_ROWS:
        console.print(f"[yellow]... and {len(tally.bad) - _SHOW_BAD_ROWS} more bad rows[/yellow]")
    rate = tally.published / elapsed if elapsed > 0 else 0.0
    typer.echo(
        f"published {tally.published} listings to {LISTINGS_RAW.name}, "
        f"{len(tally.bad)} bad rows skipped, in {elapsed:.1f} s ({rate:,.0f} listings/s)"
    )
