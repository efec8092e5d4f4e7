"""Training and model-lifecycle events."""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from valora_contracts.envelope import (
    JSON_NUMBER,
    CleanStr,
    Count,
    Envelope,
    FiniteFloat,
    Id64,
    Text,
    Version,
    new_id,
)

__all__ = ["GateResult", "ModelMetrics", "ModelPromoted", "ModelTrained", "TrainingRequested"]

Sha256 = Annotated[
    str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$", strict=True)
]
TrainingReason = Literal["manual", "schedule", "drift", "new_labels", "startup"]
MAX_TRIALS = 10_000
"""Most Optuna trials one request may ask for."""

Trials = Annotated[int, Ge(1), Le(MAX_TRIALS), JSON_NUMBER]


class TrainingRequested(Envelope):
    """Ask the trainer to train (and, if the gate passes, promote) a model."""

    request_id: Id64 = Field(default_factory=new_id, description="Id to follow this request.")
    model_name: CleanStr = Field(description="Registered model name to train.")
    reason: TrainingReason = Field(description="Why training was requested.")
    requested_by: CleanStr = Field(default="operator", description="Who or what asked.")
    trials: Trials | None = Field(default=None, description="Override of the Optuna trials.")
    promotion: Literal["shadow", "direct"] | None = Field(
        default=None,
        description="Override of the training config's promotion: shadow (a gated model "
        "shadows the champion as challenger until realised prices judge it) or direct.",
    )


class ModelMetrics(BaseModel):
    """Hold-out metrics of a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rmse: FiniteFloat = Field(ge=0, description="Root mean squared error on the test split.")
    mae: FiniteFloat = Field(ge=0, description="Mean absolute error on the test split.")
    mape: FiniteFloat = Field(ge=0, description="Mean absolute percentage error (fraction).")
    r2: FiniteFloat = Field(description="Coefficient of determination.")
    interval_coverage: FiniteFloat = Field(
        ge=0, le=1, description="Share of test rows inside the 90% conformal interval."
    )
    n_train: Count = Field(description="Training rows.")
    n_test: Count = Field(description="Test rows.")


class GateResult(BaseModel):
    """Outcome of the quality gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool = Field(description="True when the challenger may be promoted.")
    reasons: list[Text] = Field(
        default_factory=list, max_length=50, description="Why it failed (empty if passed)."
    )
    champion_version: Version | None = Field(default=None, description="Champion compared against.")
    champion_rmse: FiniteFloat | None = Field(
        default=None, description="Champion's RMSE on the same test rows."
    )


class ModelTrained(Envelope):
    """A training run finished (whatever the gate said)."""

    request_id: Id64 = Field(description="Training request this answers.")
    model_name: CleanStr = Field(description="Registered model name.")
    model_version: Version | None = Field(default=None, description="Registered version, if any.")
    run_id: Id64 = Field(description="MLflow run id.")
    metrics: ModelMetrics = Field(description="Hold-out metrics.")
    gate: GateResult = Field(description="Quality-gate result.")


class ModelPromoted(Envelope):
    """A model version became the champion."""

    model_name: CleanStr = Field(description="Registered model name.")
    model_version: Version = Field(description="Version now aliased ``champion``.")
    run_id: Id64 = Field(description="MLflow run id of that version.")
    previous_version: Version | None = Field(default=None, description="Former champion, if any.")
    metrics: ModelMetrics = Field(description="Hold-out metrics of the new champion.")
    model_sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the registered model directory (every file's path, size and "
        "bytes); a consumer refuses to load an artifact with another digest.",
    )
