"""The published event JSON Schemas say everything the contracts enforce, and nothing more is
accepted: a producer validating against ``contracts/schemas/*.json`` gets the same verdict as
the consumer decoding the record.

Each event starts from a valid example; every top-level field is then mutated in the ways
careless producers do (a boolean for a count, a numeric string, a whole number written ``3.0``,
a fraction for a count, NUL bytes, blank names, text longer than its column, an unknown field)
and the JSON Schema's verdict (``jsonschema``) must equal the model's.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError
from valora_contracts import (
    ChallengerChanged,
    DeadLetter,
    DriftAlert,
    IngestedListing,
    ModelPromoted,
    ModelTrained,
    ModelVerdict,
    PredictionMade,
    PredictionReply,
    PredictionRequested,
    RejectedListing,
    SaleObserved,
    ShadowPrediction,
    TrainingRequested,
    ValidatedListing,
    event_types,
)

pytestmark = pytest.mark.unit

T = "2026-12-01T10:00:00Z"
FEATURES = {
    "area": 80.5,
    "bedrooms": 2,
    "bathrooms": 1,
    "age": 12.0,
    "garage": 1,
    "neighbourhood": "Centro",
}
LISTING = {
    "listing_id": "L1",
    "source": "feed",
    "ingested_at": T,
    "features": FEATURES,
    "price": 300000.0,
    "content_hash": "abc",
}
METRICS = {
    "rmse": 1.0,
    "mae": 1.0,
    "mape": 0.1,
    "r2": 0.9,
    "interval_coverage": 0.9,
    "n_train": 10,
    "n_test": 5,
}
RESULT = {
    "prediction_id": "p1",
    "input_id": "i1",
    "price": 1.0,
    "interval": {"lower_bound": 0.5, "upper_bound": 1.5},
    "model_name": "m",
    "model_version": "1",
    "run_id": "r1",
}
EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    IngestedListing: LISTING,
    ValidatedListing: {**LISTING, "contract_version": "1"},
    RejectedListing: {
        **LISTING,
        "contract_version": "1",
        "violations": [{"rule": "r", "message": "m"}],
    },
    SaleObserved: {"listing_id": "L1", "sale_price": 1.0, "sold_at": T},
    TrainingRequested: {"model_name": "m", "reason": "manual", "trials": 3},
    ModelTrained: {
        "request_id": "q",
        "model_name": "m",
        "run_id": "r",
        "metrics": METRICS,
        "gate": {"passed": True},
    },
    ModelPromoted: {"model_name": "m", "model_version": "2", "run_id": "r", "metrics": METRICS},
    ChallengerChanged: {"model_name": "m", "model_version": "3", "status": "shadowing"},
    ShadowPrediction: {
        "prediction_id": "p1",
        "input_id": "i1",
        "source": "stream",
        "model_name": "m",
        "champion_version": "2",
        "champion_price": 1.0,
        "champion_lower": 0.5,
        "champion_upper": 1.5,
        "challenger_version": "3",
        "challenger_price": 1.1,
        "challenger_lower": 0.6,
        "challenger_upper": 1.6,
        "level": 0.9,
    },
    ModelVerdict: {
        "model_name": "m",
        "challenger_version": "3",
        "champion_version": "2",
        "decision": "promote",
        "explanation": "better",
        "paired_sales": 40,
        "champion_mae": 2.0,
        "challenger_mae": 1.0,
        "champion_mape": 0.2,
        "challenger_mape": 0.1,
        "champion_coverage": 0.8,
        "challenger_coverage": 0.9,
        "alpha": 0.005,
    },
    PredictionRequested: {
        "reply_to": "predictions.replies.gw-1.v1",
        "items": [{"features": FEATURES}],
    },
    PredictionReply: {"correlation_id": "c", "results": [RESULT]},
    PredictionMade: {
        "source": "sync",
        "features": FEATURES,
        "result": RESULT,
        "input_hash": "ab",
        "latency_ms": 1.0,
    },
    DriftAlert: {
        "kind": "data",
        "feature": "area",
        "statistic": "psi",
        "value": 0.3,
        "threshold": 0.2,
        "severity": "warning",
        "window": {"start": T, "end": T, "size": 5},
        "model_name": "m",
        "model_version": "1",
        "dedupe_key": "k",
        "state": "firing",
    },
    DeadLetter: {
        "original": "eA==",
        "original_size": 1,
        "original_sha256": "0" * 64,
        "original_truncated": False,
        "error_class": "permanent",
        "error_type": "E",
        "error": "bad",
        "attempts": 1,
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "service": "s",
    },
}
MUTATIONS: list[Any] = [
    True,
    False,
    "3",
    3,
    3.0,
    3.5,
    -1,
    2**40,
    "",
    " ",
    "\t\x1d",
    "a\x00b",
    "x" * 65,
    "x" * 201,
    "x" * 256,
    None,
    [],
    {},
]


def _schema_ok(validator: jsonschema.protocols.Validator, body: dict[str, Any]) -> bool:
    return validator.is_valid(body)


def _model_ok(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def test_every_event_type_has_an_example() -> None:
    missing = set(event_types()) - {m.__name__ for m in EXAMPLES} - {"RawListing"}
    assert missing == set(), "RawListing is lenient by design; every other event needs one"


@pytest.mark.parametrize("model", list(EXAMPLES), ids=lambda m: m.__name__)
def test_the_json_schema_and_the_contract_give_the_same_verdict(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    example = EXAMPLES[model]
    assert _schema_ok(validator, example)
    assert _model_ok(model, example)
    disagree = []
    fields = {**schema["properties"], "unknown_field": {}}
    for name, prop in fields.items():
        if '"format"' in json.dumps(prop):
            continue  # formats (date-time, base64) are annotations in JSON Schema, not rules
        for value in MUTATIONS:
            body = {**example, name: value}
            by_schema, by_model = _schema_ok(validator, body), _model_ok(model, body)
            if by_schema != by_model:
                disagree.append(f"{name}={value!r:.20}: schema {by_schema}, model {by_model}")
    assert disagree == []
