"""Shadow challengers: a gated model valued beside the champion on live traffic, judged on
realised prices, then promoted or retired.

* :class:`ChallengerChanged` (``models.challengers.v1``): a version became the challenger
  (``shadowing``) or stopped being one (``promoted``, ``retired``); every predictor reloads it.
* :class:`ShadowPrediction` (``predictions.shadow.v1``): one house valued by both models in the
  same vectorised batch; the pair the drift monitor joins to the realised price. Never returned
  to a caller.
* :class:`ModelVerdict` (``models.verdict.v1``): the drift monitor's decision on a challenger,
  with the paired figures it rests on; the trainer carries it out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import AllowInfNan, Field

from valora_contracts.envelope import (
    JSON_NUMBER,
    CleanStr,
    Count,
    Envelope,
    FiniteFloat,
    Id64,
    Id255,
    Text,
    Version,
)
from valora_contracts.prediction import PredictionId, PredictionSource
from valora_contracts.training import ModelMetrics

__all__ = [
    "ChallengerChanged",
    "ChallengerStatus",
    "ModelVerdict",
    "PromotionMode",
    "ShadowPrediction",
    "VerdictDecision",
]

ChallengerStatus = Literal["shadowing", "promoted", "retired"]
VerdictDecision = Literal["promote", "retire"]
PromotionMode = Literal["shadow", "direct"]
"""What a gated model becomes: ``shadow``, the challenger judged on live traffic first;
``direct``, the champion at once."""


Probability = Annotated[float, Ge(0), Le(1), AllowInfNan(False), JSON_NUMBER]


class ChallengerChanged(Envelope):
    """A model version started or stopped shadowing the champion."""

    model_name: CleanStr = Field(description="Registered model name.")
    model_version: Version = Field(description="The challenger version.")
    status: ChallengerStatus = Field(
        description="shadowing: now aliased ``challenger``; promoted: now the champion; "
        "retired: no longer valued."
    )
    champion_version: Version | None = Field(
        default=None, description="The champion it shadows (or replaced)."
    )
    run_id: Id64 | None = Field(default=None, description="MLflow run id of the version.")
    model_sha256: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the registered model directory; a predictor refuses to load an "
        "artifact with another digest.",
    )
    explanation: Text = Field(default="", description="Why the status changed.")
    metrics: ModelMetrics | None = Field(
        default=None, description="Hold-out metrics of the version (shadowing)."
    )


class ShadowPrediction(Envelope):
    """One input valued by the champion (answered) and the challenger (stored, never returned)
    in the same batch."""

    prediction_id: PredictionId = Field(
        description="The champion's stored prediction (the lineage row)."
    )
    input_id: Id255 = Field(description="Input both models valued.")
    listing_id: CleanStr | None = Field(default=None, description="Listing id, when known.")
    source: PredictionSource = Field(description="sync, batch or stream.")
    model_name: CleanStr = Field(description="Registered model name.")
    champion_version: Version = Field(description="Version that answered.")
    champion_price: FiniteFloat = Field(description="The champion's price (answered).")
    champion_lower: FiniteFloat = Field(description="Lower bound of the champion's interval.")
    champion_upper: FiniteFloat = Field(description="Upper bound of the champion's interval.")
    challenger_version: Version = Field(description="Version valued in the shadow.")
    challenger_price: FiniteFloat = Field(description="The challenger's price (not answered).")
    challenger_lower: FiniteFloat = Field(description="Lower bound of the challenger's interval.")
    challenger_upper: FiniteFloat = Field(description="Upper bound of the challenger's interval.")
    level: FiniteFloat = Field(gt=0, lt=1, description="Nominal coverage of both intervals.")


class ModelVerdict(Envelope):
    """The drift monitor's decision on a challenger, from paired realised errors."""

    model_name: CleanStr = Field(description="Registered model name.")
    challenger_version: Version = Field(description="The challenger judged.")
    champion_version: Version = Field(description="The champion it was compared with.")
    decision: VerdictDecision = Field(
        description="promote: better with the configured confidence; retire: worse, no "
        "difference found within the allowed sales, or timed out."
    )
    explanation: Text = Field(description="Why, in words.")
    paired_sales: Count = Field(description="Realised sales both models had valued.")
    champion_mae: FiniteFloat = Field(ge=0, description="Champion's mean absolute error on them.")
    challenger_mae: FiniteFloat = Field(ge=0, description="Challenger's mean absolute error.")
    champion_mape: FiniteFloat = Field(ge=0, description="Champion's mean absolute % error.")
    challenger_mape: FiniteFloat = Field(ge=0, description="Challenger's mean absolute % error.")
    champion_coverage: FiniteFloat = Field(
        ge=0, le=1, description="Share of sales inside the champion's interval."
    )
    challenger_coverage: FiniteFloat = Field(
        ge=0, le=1, description="Share of sales inside the challenger's interval."
    )
    statistic: FiniteFloat | None = Field(
        default=None, description="Wilcoxon signed-rank statistic of the error differences."
    )
    p_value: Probability | None = Field(default=None, description="Two-sided p-value of that test.")
    alpha: FiniteFloat = Field(
        gt=0, lt=1, description="Significance each look was held to (the level / planned looks)."
    )
