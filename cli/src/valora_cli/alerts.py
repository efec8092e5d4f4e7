"""``valora alerts``: follow drift alerts on ``drift.alerts.v1``.

Examples::

    valora alerts tail                        # new alerts, one readable line each
    valora alerts tail --from-beginning       # the whole topic first
    valora alerts tail --json | jq .          # one JSON object per line, for machines
    valora alerts tail --model valora-price --max 1 --timeout 600
    valora alerts webhook --port 9095         # print Alertmanager's notifications (pages)
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from valora_contracts import DRIFT_ALERTS, DriftAlert
from valora_messaging import KafkaSettings, kafka_security

from valora_cli import alert_webhook

__all__ = ["app", "format_alert"]

app = typer.Typer(help="Drift alerts for on-call.", no_args_is_help=True)
console = Console(highlight=False)


@app.callback()
def main() -> None:
    """Drift alerts for on-call."""


errors = Console(stderr=True)

_STYLE = {"critical": "bold red", "warning": "yellow", "resolved": "green"}


def _short(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def format_alert(alert: DriftAlert) -> str:
    """One line: time, state, severity, what, value vs threshold, model, window, key."""
    when = alert.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    state = alert.state.upper()
    if alert.kind == "integrity":
        return (
            f"{when}  {state:<8} {alert.severity:<8} integrity  {alert.model_name} "
            f"v{alert.model_version}: artifact failed SHA-256 verification (refused; the "
            f"previous champion keeps serving)  key={alert.dedupe_key}"
        )
    relation = ">=" if alert.state == "firing" else "<"
    p = f" p={alert.p_value:.2g}" if alert.p_value is not None else ""
    w = alert.window
    span = f"{w.start:%H:%M:%S}-{w.end:%H:%M:%S}"
    return (
        f"{when}  {state:<8} {alert.severity:<8} {alert.kind}/{alert.feature}  "
        f"{alert.statistic}={_short(alert.value)} {relation} {_short(alert.threshold)}{p}  "
        f"{alert.model_name} v{alert.model_version}  window {w.size} [{span}]  "
        f"key={alert.dedupe_key}"
    )


async def _tail(
    *,
    settings: KafkaSettings,
    as_json: bool,
    from_beginning: bool,
    model: str | None,
    limit: int | None,
    timeout_s: float | None,
) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(settings),
    )
    await consumer.start()
    shown = 0
    try:
        partitions = consumer.partitions_for_topic(DRIFT_ALERTS.name) or {0}
        parts = [TopicPartition(DRIFT_ALERTS.name, p) for p in sorted(partitions)]
        consumer.assign(parts)
        if from_beginning:
            await consumer.seek_to_beginning(*parts)
        else:
            await consumer.seek_to_end(*parts)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while deadline is None or time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        alert = DriftAlert.model_validate_json(record.value or b"")
                    except ValueError as exc:
                        errors.print(f"[dim]skipping an invalid record: {exc}[/]")
                        continue
                    if model is not None and alert.model_name != model:
                        continue
                    if as_json:
                        sys.stdout.write(alert.model_dump_json() + "\n")
                        sys.stdout.flush()
                    else:
                        style = _STYLE["resolved" if alert.state == "resolved" else alert.severity]
                        console.print(format_alert(alert), style=style, soft_wrap=True)
                    shown += 1
                    if limit is not None and shown >= limit:
                        return shown
    finally:
        await consumer.stop()
    return shown


@app.command("tail")
def tail(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest alert still kept.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="Only alerts of this model name.")] = None,
    limit: Annotated[int | None, typer.Option("--max", help="Stop after N alerts.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Follow drift.alerts.v1 (Ctrl-C to stop)."""
    settings = KafkaSettings()
    try:
        asyncio.run(
            _tail(
                settings=settings,
                as_json=as_json,
                from_beginning=from_beginning,
                model=model,
                limit=limit,
                timeout_s=timeout,
            )
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("webhook")
def webhook(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9095,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw payloads.")] = False,
) -> None:
    """Receive Alertmanager webhook notifications and print them (Ctrl-C to stop)."""
    try:
        alert_webhook.serve(host=host, port=port, as_json=as_json)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
