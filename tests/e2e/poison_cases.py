"""The poison family's cases: for every consumed topic, three poison records and good ones.

Each case names its topic, the services that consume it (each must dead-letter every poison
record exactly once), how to build (a) undecodable bytes, (b) a record that decodes as JSON and
fails in processing, (c) a record near Kafka's 1 MiB size limit, and good records with the
same key, and how to see that the good records were processed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from valora_contracts import (
    ChallengerChanged,
    IngestedListing,
    ListingFeatures,
    ModelMetrics,
    ModelPromoted,
    ModelVerdict,
    PredictionInput,
    PredictionInterval,
    PredictionMade,
    PredictionRequested,
    PredictionResult,
    SaleObserved,
    ShadowPrediction,
    TrainingRequested,
    ValidatedListing,
)

NEAR_LIMIT = 900_000
"""Bytes of the oversized poison: under the broker's 1 MiB message limit, far over any field."""

FEATURES = {
    "area": 88.0,
    "bedrooms": 2,
    "bathrooms": 1,
    "age": 12.0,
    "garage": 1,
    "neighbourhood": "Centro",
}


@dataclass(frozen=True)
class Run:
    """Names of one run of the family (everything it publishes carries ``run_id``)."""

    run_id: str
    model: str
    reply_topic: str
    promoted_version: str
    promoted_run_id: str

    def key(self, topic: str) -> bytes:
        return f"{self.run_id}:{topic}".encode()


@dataclass(frozen=True)
class Case:
    topic: str
    consumers: tuple[str, ...]
    semantic: Callable[[Run], bytes]
    good: Callable[[Run, str], list[bytes]]
    oversized_field: str

    def poisons(self, run: Run) -> dict[str, bytes]:
        template = orjson.loads(self.good(run, "template")[0])
        big = {**template, self.oversized_field: "x" * NEAR_LIMIT + run.run_id}
        return {
            "undecodable": b"\xff\xfe\x00" + f"{run.run_id}:{self.topic}".encode() + b"\x80{",
            "semantic": self.semantic(run),
            "oversized": orjson.dumps(big),
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _raw(run: Run, tag: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                **FEATURES,
                "preco": 300_000.0,
                "listing_id": f"{run.run_id}-raw-{tag}-{i}",
                "source": run.run_id,
            }
        )
        for i in range(3)
    ]


def _ingested(
    run: Run, tag: str, cls: type[IngestedListing] = IngestedListing, **extra: Any
) -> list[bytes]:
    return [
        cls(
            listing_id=f"{run.run_id}-{cls.__name__[:3].lower()}-{tag}-{i}",
            source=run.run_id,
            ingested_at=_now(),
            features=ListingFeatures.model_validate(FEATURES),
            price=310_000.0 + i,
            content_hash=f"{run.run_id}{tag}{i}",
            **extra,
        )
        .model_dump_json()
        .encode()
        for i in range(3)
    ]


def _validated(run: Run, tag: str) -> list[bytes]:
    return _ingested(run, tag, ValidatedListing, contract_version="poison")


def _requests(run: Run, tag: str) -> list[bytes]:
    return [
        TrainingRequested(
            request_id=f"{run.run_id}-tr-{tag}-{i}",
            model_name=run.model,
            reason="manual",
            requested_by="poison-test",
        )
        .model_dump_json()
        .encode()
        for i in range(2)
    ]


def _sales(run: Run, tag: str) -> list[bytes]:
    return [
        SaleObserved(
            listing_id=f"{run.run_id}-sale-{tag}-{i}", sale_price=305_000.0, sold_at=_now()
        )
        .model_dump_json()
        .encode()
        for i in range(3)
    ]


def _prediction_requests(run: Run, tag: str) -> list[bytes]:
    return [
        PredictionRequested(
            correlation_id=f"{run.run_id[:40]}-{tag[:8]}-{i}",
            reply_to=run.reply_topic,
            items=[PredictionInput(features=ListingFeatures.model_validate(FEATURES))],
        )
        .model_dump_json()
        .encode()
        for i in range(3)
    ]


def _made(run: Run, tag: str) -> list[bytes]:
    out = []
    for i in range(3):
        listing_id = f"{run.run_id}-pm-{tag}-{i}"
        result = PredictionResult(
            prediction_id=f"p{abs(hash((run.run_id, tag, i))):x}"[:32],
            input_id=listing_id,
            listing_id=listing_id,
            price=300_000.0,
            interval=PredictionInterval(lower_bound=250_000.0, upper_bound=350_000.0),
            model_name=run.model,
            model_version="1",
            run_id="r" * 32,
        )
        made = PredictionMade(
            source="stream",
            features=ListingFeatures.model_validate(FEATURES),
            result=result,
            input_hash="ab" * 16,
            latency_ms=1.0,
        )
        out.append(made.model_dump_json().encode())
    return out


def _promoted(run: Run, tag: str) -> list[bytes]:
    metrics = ModelMetrics(
        rmse=1, mae=1, mape=0.1, r2=0.9, interval_coverage=0.9, n_train=1, n_test=1
    )
    return [
        ModelPromoted(
            model_name=run.model,
            model_version=run.promoted_version,
            run_id=run.promoted_run_id,
            metrics=metrics,
        )
        .model_dump_json()
        .encode()
    ]


def _shadow(run: Run, tag: str) -> list[bytes]:
    return [
        ShadowPrediction(
            prediction_id=f"s{abs(hash((run.run_id, tag, i))):x}"[:32],
            input_id=f"{run.run_id}-ps-{tag}-{i}",
            listing_id=f"{run.run_id}-ps-{tag}-{i}",
            source="stream",
            model_name=run.model,
            champion_version="1",
            champion_price=300_000.0,
            champion_lower=250_000.0,
            champion_upper=350_000.0,
            challenger_version="9",
            challenger_price=310_000.0,
            challenger_lower=260_000.0,
            challenger_upper=360_000.0,
            level=0.9,
        )
        .model_dump_json()
        .encode()
        for i in range(3)
    ]


def _challenger(run: Run, tag: str) -> list[bytes]:
    """A challenger announced (no ``challenger`` alias in MLflow: the predictors find none to
    load; the drift monitor starts its evaluation)."""
    return [
        ChallengerChanged(
            model_name=run.model,
            model_version=f"c-{tag}"[:32],
            status="shadowing",
            champion_version="1",
            explanation=f"poison family {run.run_id}",
        )
        .model_dump_json()
        .encode()
    ]


def _verdict(run: Run, tag: str) -> list[bytes]:
    """A verdict on a version that is not the challenger (the trainer changes nothing)."""
    return [
        ModelVerdict(
            model_name=run.model,
            challenger_version=f"v-{tag}"[:32],
            champion_version="1",
            decision="retire",
            explanation=f"poison family {run.run_id}",
            paired_sales=30,
            champion_mae=1.0,
            challenger_mae=2.0,
            champion_mape=0.1,
            challenger_mape=0.2,
            champion_coverage=0.9,
            challenger_coverage=0.9,
            alpha=0.01,
        )
        .model_dump_json()
        .encode()
    ]


def _json(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


CASES: tuple[Case, ...] = (
    Case(
        "listings.raw.v1",
        ("ingestion",),
        semantic=lambda r: _json({**FEATURES, "area": "not a number", "source": r.run_id}),
        good=_raw,
        oversized_field="bairro",
    ),
    Case(
        "listings.ingested.v1",
        ("validator",),
        semantic=lambda r: _json({"listing_id": f"{r.run_id}-no-features", "source": r.run_id}),
        good=_ingested,
        oversized_field="source",
    ),
    Case(
        "listings.validated.v1",
        ("trainer", "predictor", "drift-monitor"),
        semantic=lambda r: _json({**orjson.loads(_validated(r, "s")[0]), "listing_id": "l" * 300}),
        good=_validated,
        oversized_field="contract_version",
    ),
    Case(
        "training.requests.v1",
        ("trainer",),
        semantic=lambda r: _json({**orjson.loads(_requests(r, "s")[0]), "request_id": "r" * 100}),
        good=_requests,
        oversized_field="requested_by",
    ),
    Case(
        "sales.observed.v1",
        ("trainer", "drift-monitor"),
        semantic=lambda r: _json({**orjson.loads(_sales(r, "s")[0]), "sale_price": -1}),
        good=_sales,
        oversized_field="listing_id",
    ),
    Case(
        "predictions.requests.v1",
        ("predictor",),
        semantic=lambda r: _json(
            {
                **orjson.loads(_prediction_requests(r, "s")[0]),
                "reply_to": f"predictions.replies.nobody-{r.run_id}.v1",
            }
        ),
        good=_prediction_requests,
        oversized_field="correlation_id",
    ),
    Case(
        "predictions.made.v1",
        ("drift-monitor",),
        semantic=lambda r: _json({**orjson.loads(_made(r, "s")[0]), "result": {"price": "x"}}),
        good=_made,
        oversized_field="input_hash",
    ),
    Case(
        "models.promoted.v1",
        ("predictor", "drift-monitor"),
        semantic=lambda r: _json({**orjson.loads(_promoted(r, "s")[0]), "model_version": "9" * 40}),
        good=_promoted,
        oversized_field="run_id",
    ),
    Case(
        "predictions.shadow.v1",
        ("drift-monitor",),
        semantic=lambda r: _json({**orjson.loads(_shadow(r, "s")[0]), "listing_id": "l" * 300}),
        good=_shadow,
        oversized_field="input_id",
    ),
    Case(
        "models.challengers.v1",
        ("predictor", "drift-monitor"),
        semantic=lambda r: _json({**orjson.loads(_challenger(r, "s")[0]), "status": "unsure"}),
        good=_challenger,
        oversized_field="explanation",
    ),
    Case(
        "models.verdict.v1",
        ("trainer",),
        semantic=lambda r: _json({**orjson.loads(_verdict(r, "s")[0]), "decision": "maybe"}),
        good=_verdict,
        oversized_field="explanation",
    ),
)
