"""Drift alerts for on-call."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from valora_contracts.envelope import CleanStr, Count, Envelope, FiniteFloat, Version

__all__ = ["DriftAlert", "DriftWindow"]


class DriftWindow(BaseModel):
    """The window a statistic was computed on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime = Field(description="First event time in the window.")
    end: AwareDatetime = Field(description="Last event time in the window.")
    size: Count = Field(description="Events in the window.")


class DriftAlert(Envelope):
    """One alert state change: ``firing`` once per condition, ``resolved`` when it clears.

    ``kind="integrity"`` (statistic ``sha256``, feature ``model_artifact``): a service refused
    a model version whose artifact does not match its recorded SHA-256."""

    kind: Literal["data", "prediction", "performance", "integrity"] = Field(
        description="What drifted (``integrity``: a model artifact failed verification)."
    )
    feature: CleanStr = Field(description="Feature, ``prediction``, or a metric segment.")
    statistic: Literal["psi", "ks", "chi2", "mae", "mape", "sha256"] = Field(
        description="Statistic used."
    )
    value: FiniteFloat = Field(description="Value of the statistic.")
    threshold: FiniteFloat = Field(description="Threshold it was compared with.")
    p_value: FiniteFloat | None = Field(default=None, description="Corrected p-value, if a test.")
    severity: Literal["warning", "critical"] = Field(description="Severity.")
    window: DriftWindow = Field(description="Window the value was computed on.")
    model_name: CleanStr = Field(description="Model name being monitored.")
    model_version: Version = Field(description="Model version being monitored.")
    dedupe_key: str = Field(
        min_length=1,
        max_length=300,
        strict=True,
        description="Same key = same condition; one alert per condition.",
    )
    state: Literal["firing", "resolved"] = Field(description="firing or resolved.")
