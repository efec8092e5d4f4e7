"""The AsyncAPI document of every Valora topic (``valora contracts asyncapi``, ``make docs``).

Built with FastStream's AsyncAPI generator from two sources, never written by hand:

* the services' own FastStream apps: each service is run as ``python -m valora_<svc> asyncapi``
  (it builds its app as it would serve it, connects to nothing, and prints FastStream's AsyncAPI
  of its broker), which says which topics it consumes and in which consumer group;
* the contracts: every topic of the registry (``valora_contracts.ALL_TOPICS``) with its event's
  JSON Schema, key, partitions and description, and who produces it (:data:`PRODUCERS`: the
  services' outputs, the gateway's request-reply, the CLI's publishers; dead letters come from
  the consumers of the topic they belong to).

A documentation broker (never started) gets one subscriber per consumer and one publisher per
producer, each typed by the topic's contract, and FastStream renders it as AsyncAPI 3.0 YAML and
HTML. ``tests/deploy/test_asyncapi.py`` pins ``docs/asyncapi.yaml`` like the JSON Schemas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.security import SASLScram512
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from pydantic import BaseModel
from valora_contracts import ALL_TOPICS, PREDICTION_REPLIES_DLQ, TopicSpec, reply_topic
from valora_devstack.services import SERVICES

__all__ = ["PRODUCERS", "Consumer", "build_document", "discover_consumers", "render"]

REPLY_INSTANCE = "example"
"""Gateway instance named in the document's reply topic (one such topic per gateway instance)."""
REPLIES = reply_topic(REPLY_INSTANCE)

PRODUCERS: Mapping[str, tuple[str, ...]] = {
    "listings.raw.v1": (
        "external producers",
        "cli (valora listings publish)",
        "gateway (its POST listings route)",
    ),
    "listings.ingested.v1": ("ingestion",),
    "listings.validated.v1": ("validator",),
    "listings.rejected.v1": ("validator",),
    "training.requests.v1": ("cli (valora train)", "drift-monitor (auto-retrain)"),
    "models.trained.v1": ("trainer",),
    "models.promoted.v1": ("trainer",),
    "predictions.requests.v1": ("gateway (request-reply client)",),
    "predictions.made.v1": ("predictor",),
    "sales.observed.v1": ("external producers",),
    "drift.alerts.v1": ("drift-monitor",),
    REPLIES.name: ("predictor (answers on the requester's reply topic)",),
    PREDICTION_REPLIES_DLQ.name: ("gateway (undecodable replies)",),
}
"""Who publishes each topic (dead-letter topics: see :func:`build_document`)."""

CLI_READERS: Mapping[str, str] = {"drift.alerts.v1": "cli (valora alerts tail)"}
"""Topics the CLI reads besides every dead-letter topic (``valora dlq inspect``/``replay``)."""


@dataclass(frozen=True)
class Consumer:
    service: str
    topic: str
    group: str | None


def _service_spec(module: str) -> dict[str, Any]:
    env = {**os.environ, "VALORA_GATEWAY_INSTANCE_ID": REPLY_INSTANCE, "VALORA_LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [sys.executable, "-m", module, "asyncapi"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m {module} asyncapi failed:\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def consumers_in(service: str, described: Mapping[str, Any]) -> list[Consumer]:
    """The subscribers one service's app registered (topic, consumer group)."""
    return [
        Consumer(service, str(topic), s.get("group"))
        for s in described.get("subscribers") or []
        for topic in s.get("topics") or []
    ]


def discover_consumers() -> list[Consumer]:
    """Run every installed service's ``asyncapi`` command (side by side) and collect what it
    consumes."""
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor

    specs = [s for s in SERVICES if importlib.util.find_spec(s.module) is not None]
    with ThreadPoolExecutor(max_workers=len(specs) or 1) as pool:
        described = list(pool.map(lambda s: _service_spec(s.module), specs))
    found = {c for s, d in zip(specs, described, strict=True) for c in consumers_in(s.name, d)}
    return sorted(found, key=lambda c: (c.topic, c.service, c.group or ""))


def _topics() -> dict[str, TopicSpec]:
    return {t.name: t for t in [*ALL_TOPICS, REPLIES]}


def _typed(event: type[BaseModel]) -> Any:
    async def handle(event_: Any) -> None:
        return None

    handle.__annotations__ = {"event_": event, "return": None}
    return handle


def _about(topic: TopicSpec) -> str:
    return f"{topic.description} Key: {topic.key}. Partitions: {topic.partitions}."


def build_document(consumers: Sequence[Consumer], *, version: str) -> AsyncAPI:
    """The AsyncAPI factory over a documentation broker carrying every producer and consumer."""
    topics = _topics()
    dead_letters = [n for n in topics if n.endswith(".dlq.v1")]
    readers = [Consumer(name, topic, None) for topic, name in CLI_READERS.items()]
    readers += [Consumer("cli (valora dlq inspect, replay)", t, None) for t in dead_letters]
    # Documentation only (never connected): outside local every client authenticates with
    # SCRAM-SHA-512 over TLS (docs/security.md); the credentials here are placeholders.
    security = SASLScram512("<service account>", "<from the service's secret>", use_ssl=True)
    broker = KafkaBroker(
        "kafka:9092",
        security=security,
        description="Valora's Kafka cluster (one per environment): SASL_SSL with SCRAM-SHA-512 "
        "outside local; plaintext on the local dev stack.",
    )
    for c in [*consumers, *readers]:
        spec = topics[c.topic]
        group = f" in group {c.group}" if c.group else " (every replica, no group)"
        broker.subscriber(
            c.topic,
            group_id=c.group,
            title=f"{c.service} consumes {c.topic}" + (f" ({c.group})" if c.group else ""),
            description=f"{c.service} reads {c.topic}{group}. {_about(spec)}",
        )(_typed(spec.event))
    sources = {f"{t.name.removesuffix('.v1')}.dlq.v1": t.name for t in ALL_TOPICS}
    sources[PREDICTION_REPLIES_DLQ.name] = REPLIES.name
    for name, spec in topics.items():
        producers = PRODUCERS.get(name)
        if producers is None and name in sources:  # a dead-letter topic
            owners = sorted({c.service for c in consumers if c.topic == sources[name]})
            producers = tuple(f"{o} (error policy)" for o in owners)
        for producer in producers or ():
            broker.publisher(
                name,
                title=f"{producer} publishes {name}",
                description=f"{producer} writes {name}. {_about(spec)}",
                schema=spec.event,
            )
    return AsyncAPI(
        broker,
        title="Valora events",
        version=version,
        description="Every Kafka topic of the Valora platform: who publishes it, who consumes "
        "it (and in which consumer group), and the JSON Schema of its events (the contracts in "
        "contracts/). Generated by `make docs` from the services' FastStream apps and the "
        "topic registry; do not edit by hand.",
        schema_version="3.0.0",
    )


def render(document: AsyncAPI) -> tuple[str, str]:
    """(YAML, HTML) of the document; keys sorted, so the same apps give the same bytes."""
    spec = document.to_specification()
    canonical = yaml.safe_dump(spec.to_jsonable(), sort_keys=True, width=100)
    return canonical, get_asyncapi_html(spec, try_it_out_path=None)


def write(directory: Path, *, version: str) -> tuple[Path, Path]:
    yaml_text, html = render(build_document(discover_consumers(), version=version))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "asyncapi.yaml").write_text(yaml_text)
    (directory / "asyncapi.html").write_text(html)
    return directory / "asyncapi.yaml", directory / "asyncapi.html"
