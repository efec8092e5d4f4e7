"""``valora train``: ask the trainer to train (and, if the gate passes, promote) a model.

Examples::

    valora train                          # the configured model (VALORA_MODEL_NAME)
    valora train --model valora-price --trials 50 --wait

With ``--wait`` it shows the run's progress (stage, Optuna trials, best CV RMSE, read from the
trainer's ``training_requests`` table) and follows ``models.trained.v1`` for this request, then
prints the MLflow run id, version, metrics and gate outcome. Exit code: 0 when the gate passed,
3 when it rejected the model, 1 when the run failed or the wait timed out.
"""

from __future__ import annotations

import asyncio
import time
from enum import StrEnum
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table
from valora_contracts import (
    ALL_TOPICS,
    MODELS_TRAINED,
    TRAINING_REQUESTS,
    ModelTrained,
    TrainingRequested,
)
from valora_db import create_engine, create_session_factory, session_scope
from valora_db.tables.trainer import TrainingRequestRow
from valora_messaging import (
    KafkaSettings,
    OutgoingRecord,
    create_broker,
    encode_event,
    kafka_security,
    prepare_topics,
    publish_many,
)

__all__ = ["app"]

app = typer.Typer(help="Train a model (publish a training request).")


class Reason(StrEnum):
    manual = "manual"
    schedule = "schedule"


console = Console()
EXIT_REJECTED = 3


async def _publish(settings: KafkaSettings, event: TrainingRequested) -> None:
    broker = create_broker(settings=settings, client_id="cli-train")
    await broker.connect()
    try:
        record = OutgoingRecord(
            TRAINING_REQUESTS.name, encode_event(event), event.model_name.encode()
        )
        await publish_many(broker=broker, records=[record])
    finally:
        await broker.stop()


async def _progress(settings: KafkaSettings, request_id: str) -> TrainingRequestRow | None:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            return await session.get(TrainingRequestRow, request_id)
    except Exception:  # progress is best-effort: the result comes from Kafka
        return None
    finally:
        await engine.dispose()


def _describe(row: TrainingRequestRow | None) -> str:
    if row is None:
        return "waiting for the trainer to record the request"
    text = f"{row.status}"
    if row.stage:
        text += f" · {row.stage}"
    if row.trials_total:
        text += f" · trial {row.trials_done}/{row.trials_total}"
    if row.best_rmse is not None:
        text += f" · best CV RMSE {row.best_rmse:,.0f}"
    if row.attempts > 1:
        text += f" · attempt {row.attempts}"
    return text


async def _wait(
    settings: KafkaSettings, event: TrainingRequested, timeout_s: float
) -> ModelTrained | str:
    consumer = AIOKafkaConsumer(
        isolation_level="read_committed",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        **kafka_security(settings),
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(MODELS_TRAINED.name, p)
            for p in consumer.partitions_for_topic(MODELS_TRAINED.name) or [0]
        ]
        consumer.assign(parts)
        for tp, offset in (await consumer.end_offsets(parts)).items():
            consumer.seek(tp, offset)
        await _publish(settings, event)
        console.print(f"requested training of [bold]{event.model_name}[/] ({event.request_id})")
        deadline = time.monotonic() + timeout_s
        last_check = 0.0
        with console.status("waiting for the trainer") as status:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        trained = ModelTrained.model_validate_json(r.value)
                        if trained.request_id == event.request_id:
                            return trained
                if time.monotonic() - last_check > 2.0:
                    last_check = time.monotonic()
                    row = await _progress(settings, event.request_id)
                    if row is not None and row.status == "failed":
                        return f"training failed: {row.error}"
                    status.update(_describe(row))
        return f"no result within {timeout_s:.0f}s (the request stays queued)"
    finally:
        await consumer.stop()


def _show(trained: ModelTrained) -> None:
    table = Table(title=f"{trained.model_name} v{trained.model_version} · run {trained.run_id}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    m = trained.metrics
    for name, value in (
        ("RMSE", f"{m.rmse:,.0f}"),
        ("MAE", f"{m.mae:,.0f}"),
        ("MAPE", f"{m.mape:.2%}"),
        ("R²", f"{m.r2:.4f}"),
        ("90% interval coverage", f"{m.interval_coverage:.1%}"),
        ("train / test rows", f"{m.n_train} / {m.n_test}"),
    ):
        table.add_row(name, value)
    console.print(table)
    gate = trained.gate
    if gate.champion_version is not None:
        console.print(
            f"champion v{gate.champion_version} RMSE on the same rows: {gate.champion_rmse:,.0f}"
        )
    if gate.passed:
        console.print("[green]gate passed[/]: promoted to champion")
    else:
        console.print("[red]gate failed[/]: " + "; ".join(gate.reasons))


@app.callback(invoke_without_command=True)
def train(
    model: Annotated[
        str | None, typer.Option(help="Model name (default: VALORA_MODEL_NAME).")
    ] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Override the Optuna trials.")] = None,
    reason: Annotated[
        Reason, typer.Option(help="Why: manual (operator) or schedule (e.g. a CronJob).")
    ] = Reason.manual,
    wait: Annotated[bool, typer.Option(help="Follow the run and print its result.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 3600.0,
) -> None:
    """Publish a TrainingRequested event."""
    settings = KafkaSettings()
    event = TrainingRequested(
        model_name=model or settings.model_name,
        reason=reason.value,
        requested_by="cli",
        trials=trials,
    )

    async def run() -> int:
        await prepare_topics(settings=settings, topics=ALL_TOPICS)
        if not wait:
            await _publish(settings, event)
            console.print(f"requested training of [bold]{event.model_name}[/]")
            console.print(f"request id: {event.request_id}")
            return 0
        result = await _wait(settings, event, timeout)
        if isinstance(result, str):
            console.print(f"[red]{result}[/]")
            return 1
        _show(result)
        return 0 if result.gate.passed else EXIT_REJECTED

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)
