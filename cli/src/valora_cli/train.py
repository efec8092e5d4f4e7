"""``valora train``: ask the trainer to train (and, if the gate passes, promote) a model.

Examples::

    valora train                          # the configured model (VALORA_MODEL_NAME)
    valora train --model valora-price --trials 50 --wait

With ``--wait`` it shows the run's progress (stage, Optuna trials, best CV RMSE, read through
the trainer's read model :mod:`valora_db.read_models.training_requests`) and follows
``models.trained.v1`` for this request, then prints the MLflow run id, version, metrics and gate
outcome. When the gate passed it returns only once every predictor (``--predictor-url``,
repeatable; default the dev stack's) serves the new version, so a ``/predict`` straight after is
answered by it; either way it prints the version now serving. With ``--promotion shadow`` (and
a champion to shadow) a model that passes the gate becomes the challenger: ``--wait`` returns
once every predictor values traffic with it in the shadow (``valora models status`` follows its
judgement on realised prices). Exit code: 0 when the gate passed and the new version serves (as
champion, or as challenger), 3 when the gate rejected the model, 1 when the run failed or the
wait timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import httpx
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
from valora_db import create_engine
from valora_db.read_models.training_requests import TrainingRequestStatus, get_training_request
from valora_devstack import DevstackSettings
from valora_devstack.services import SERVICES
from valora_messaging import (
    KafkaSettings,
    OutgoingRecord,
    create_broker,
    encode_event,
    kafka_security,
    prepare_topics,
    publish_many,
)

from valora_cli.serving import CHALLENGER_METRIC, served_version, wait_until_served

__all__ = ["app"]

app = typer.Typer(help="Train a model (publish a training request).")


class Reason(StrEnum):
    manual = "manual"
    schedule = "schedule"


class Promotion(StrEnum):
    shadow = "shadow"
    direct = "direct"


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


async def _progress(settings: KafkaSettings, request_id: str) -> TrainingRequestStatus | None:
    engine = create_engine(settings.database_url_str, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await get_training_request(conn, request_id)
    except Exception:  # progress is best-effort: the result comes from Kafka
        return None
    finally:
        await engine.dispose()


def default_predictor_url() -> str:
    """The dev stack's predictor (first replica): its port plus the stack's port offset."""
    spec = next(s for s in SERVICES if s.name == "predictor")
    return f"http://127.0.0.1:{spec.port + DevstackSettings().service_port_offset}"


def _describe(row: TrainingRequestStatus | None) -> str:
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
        console.print("[green]gate passed[/]")
    else:
        console.print("[red]gate failed[/]: " + "; ".join(gate.reasons))


def _await_shadowing(trained: ModelTrained, urls: Sequence[str], deadline: float) -> bool:
    """With ``--promotion shadow``: wait until every predictor values the new version, as
    challenger (or as champion: there was none to shadow)."""
    target = trained.model_version or ""
    name = trained.model_name
    roles: dict[str, str] = {}
    with console.status(f"waiting for the predictors to value v{target}"):
        while len(roles) < len(urls) and time.monotonic() < deadline:
            for url in urls:
                try:
                    text = httpx.get(f"{url.rstrip('/')}/metrics", timeout=2.0).text
                except httpx.HTTPError:
                    continue
                if served_version(text, name, metric=CHALLENGER_METRIC) == target:
                    roles[url] = "challenger (shadow)"
                elif served_version(text, name) == target:
                    roles[url] = "champion"
            time.sleep(0.5)
    for url in urls:
        console.print(f"{name} v{target} at {url}: {roles.get(url, 'not valued yet')}")
    return len(roles) == len(urls)


def _await_serving(trained: ModelTrained, urls: Sequence[str], deadline: float) -> bool:
    """Wait (after a passed gate) until every predictor serves the new version; print the
    version each serves. True when all serve what the run left as champion."""
    target = trained.model_version or ""
    if trained.gate.passed:
        with console.status(f"waiting for the predictors to serve v{target}"):
            served = wait_until_served(
                urls, model_name=trained.model_name, version=target, deadline=deadline
            )
    else:  # the champion did not change: say what serves
        served = wait_until_served(
            urls, model_name=trained.model_name, version="", deadline=time.monotonic()
        )
    for url, version in served.items():
        shown = f"v{version}" if version else "nothing"
        console.print(f"serving {trained.model_name} {shown} at {url}")
    return all(v == target for v in served.values())


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
    promotion: Annotated[
        Promotion | None,
        typer.Option(
            help="shadow: a model that passes the gate shadows the champion as challenger until "
            "realised prices decide; direct: champion at once (default: training.yaml)."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 3600.0,
    predictor_url: Annotated[
        list[str] | None,
        typer.Option(
            help="Predictor(s) whose /metrics tell the served version (--wait returns once "
            "each serves the new champion); default: the dev stack's predictor."
        ),
    ] = None,
) -> None:
    """Publish a TrainingRequested event."""
    settings = KafkaSettings()
    event = TrainingRequested(
        model_name=model or settings.model_name,
        reason=reason.value,
        requested_by="cli",
        trials=trials,
        promotion=promotion.value if promotion else None,
    )

    async def run() -> int:
        await prepare_topics(settings=settings, topics=ALL_TOPICS)
        if not wait:
            await _publish(settings, event)
            console.print(f"requested training of [bold]{event.model_name}[/]")
            console.print(f"request id: {event.request_id}")
            return 0
        deadline = time.monotonic() + timeout
        result = await _wait(settings, event, timeout)
        if isinstance(result, str):
            console.print(f"[red]{result}[/]")
            return 1
        _show(result)
        urls = predictor_url or [default_predictor_url()]
        follow = _await_serving
        if promotion is Promotion.shadow and result.gate.passed:
            follow = _await_shadowing
        serving = await asyncio.to_thread(follow, result, urls, deadline)
        if not result.gate.passed:
            return EXIT_REJECTED
        if not serving:
            console.print(f"[red]v{result.model_version} was not served within the timeout[/]")
            return 1
        return 0

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)
