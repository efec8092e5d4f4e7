"""``valora dlq``: look at dead letters and send them back to where they failed.

Examples::

    valora dlq inspect listings.raw.v1                 # the topic's dead letters, one line each
    valora dlq inspect listings.raw.dlq.v1 --json      # by DLQ name; JSON lines for machines
    valora dlq inspect training.requests.v1 --since 2h
    valora dlq replay listings.raw.v1 --since 2026-12-01T10:00:00Z   # after fixing the cause

Replay republishes each dead letter's original value and key to its source topic. A dead letter
that kept only the first 64 KiB of its record (``original_truncated``) cannot be replayed: it
is refused with the reason, and the command exits non-zero.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from valora_contracts import ALL_TOPICS, DeadLetter, dlq_for
from valora_messaging import KafkaSettings, kafka_security

__all__ = ["ReplayPlan", "app", "dlq_topic", "format_letter", "parse_since", "plan_replay"]

app = typer.Typer(help="Dead letters: inspect and replay.", no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@app.callback()
def main() -> None:
    """Dead letters: inspect and replay."""


def dlq_topic(name: str) -> str:
    """The dead-letter topic of ``name`` (a source topic or a dead-letter topic itself)."""
    names = {t.name for t in ALL_TOPICS}
    if name.endswith(".dlq.v1") and name in names:
        return name
    for topic in ALL_TOPICS:
        if topic.name == name:
            return dlq_for(topic).name
    raise typer.BadParameter(f"unknown topic {name!r}: see `valora contracts topics`")


def parse_since(value: str | None, *, now: datetime) -> datetime | None:
    """``2h``/``30m``/``7d``/``90s`` ago, or an ISO 8601 time (UTC when it names no zone)."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"--since: {value!r} is neither 2h/30m/7d nor ISO 8601") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_letter(letter: DeadLetter) -> str:
    when = letter.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    size = f"{letter.original_size:,} B" + (" (truncated)" if letter.original_truncated else "")
    return (
        f"{when}  {letter.source_topic}[{letter.source_partition}]@{letter.source_offset}  "
        f"{letter.error_class}/{letter.error_type} x{letter.attempts}  {size}  "
        f"{letter.service}: {letter.error[:200]}"
    )


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay sends back (value, key, topic) and what it refuses (with the reason)."""

    send: list[DeadLetter]
    refused: list[tuple[DeadLetter, str]]


def plan_replay(letters: list[DeadLetter], *, known: set[str]) -> ReplayPlan:
    send: list[DeadLetter] = []
    refused: list[tuple[DeadLetter, str]] = []
    for letter in letters:
        if letter.original_truncated:
            refused.append(
                (
                    letter,
                    f"only the first {len(letter.original):,} of {letter.original_size:,} bytes "
                    "were kept: the record cannot be replayed (its producer must send it again)",
                )
            )
        elif letter.source_topic not in known:
            refused.append((letter, f"source topic {letter.source_topic!r} is not in the registry"))
        else:
            send.append(letter)
    return ReplayPlan(send=send, refused=refused)


async def _read(
    *, settings: KafkaSettings, topic: str, since: datetime | None, limit: int | None
) -> list[DeadLetter]:
    """Every dead letter of ``topic`` (committed ones) from ``since`` up to the current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(settings),
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        if since is None:
            await consumer.seek_to_beginning(*parts)
        else:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in parts}
            )
            for tp in parts:
                hit = found.get(tp)
                consumer.seek(tp, hit.offset if hit is not None else end[tp])
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        letters.append(DeadLetter.model_validate_json(record.value or b""))
                    except ValueError as exc:
                        errors.print(
                            f"[dim]skipping offset {record.offset}: not a dead letter ({exc})[/]"
                        )
                    if limit is not None and len(letters) >= limit:
                        return letters
    finally:
        await consumer.stop()
    return letters


async def _send(*, settings: KafkaSettings, letters: list[DeadLetter], dlq: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **kafka_security(settings),
    )
    await producer.start()
    try:
        sent = [
            await producer.send(
                letter.source_topic,
                letter.original,
                key=letter.original_key,
                headers=[("valora-replayed-from", f"{dlq}:{letter.event_id}".encode())],
            )
            for letter in letters
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


TopicArg = Annotated[str, typer.Argument(help="A source topic or its dead-letter topic.")]
SinceOpt = Annotated[
    str | None, typer.Option(help="Only dead letters since: 30m, 2h, 7d or an ISO 8601 time.")
]
MaxOpt = Annotated[int | None, typer.Option("--max", min=1, help="At most N dead letters.")]


@app.command("inspect")
def inspect(
    topic: TopicArg, since: SinceOpt = None, limit: MaxOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:  # fmt: skip
    """Show dead letters: where each came from, why it failed, how big it was."""
    dlq = dlq_topic(topic)
    letters = asyncio.run(
        _read(
            settings=KafkaSettings(),
            topic=dlq,
            since=parse_since(since, now=datetime.now(UTC)),
            limit=limit,
        )
    )
    for letter in letters:
        if as_json:
            sys.stdout.write(letter.model_dump_json() + "\n")
        else:
            console.print(format_letter(letter), soft_wrap=True)
    errors.print(f"{len(letters)} dead letters in {dlq}")


@app.command("replay")
def replay(
    topic: TopicArg, since: SinceOpt = None, limit: MaxOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent.")] = False,
) -> None:  # fmt: skip
    """Send dead letters back to their source topic (after the cause was fixed)."""
    settings = KafkaSettings()
    dlq = dlq_topic(topic)
    letters = asyncio.run(
        _read(
            settings=settings,
            topic=dlq,
            since=parse_since(since, now=datetime.now(UTC)),
            limit=limit,
        )
    )
    plan = plan_replay(letters, known={t.name for t in ALL_TOPICS})
    for letter, reason in plan.refused:
        errors.print(f"[red]refused[/] {format_letter(letter)}\n  {reason}", soft_wrap=True)
    if not dry_run and plan.send:
        asyncio.run(_send(settings=settings, letters=plan.send, dlq=dlq))
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {len(plan.send)} of {len(letters)} dead letters from {dlq}")
    if plan.refused:
        raise typer.Exit(1)
