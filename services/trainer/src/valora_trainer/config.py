"""The training configuration: triggers, split, interval, search space, candidates, gate. YAML,
validated here.

The packaged ``training.yaml`` is the default; ``VALORA_TRAINING_CONFIG`` (settings) overrides
it, and :func:`load_config` accepts a mapping of overrides (tests, the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from valora_trainer.errors import ConfigError

__all__ = [
    "FAMILIES",
    "CandidateSpec",
    "ErrorModelConfig",
    "GateConfig",
    "IntervalConfig",
    "ParamSpec",
    "SearchConfig",
    "SplitConfig",
    "TrainingConfig",
    "TriggerConfig",
    "load_config",
]

FAMILIES = ("random_forest", "hist_gradient_boosting")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParamSpec(_Strict):
    """One search dimension: an int or float range, or categorical choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs non-empty choices")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"{self.type} needs low <= high")
        return self


class TriggerConfig(_Strict):
    new_labels: int = Field(default=5000, ge=0)
    bootstrap_min_rows: int = Field(default=1000, ge=1)
    min_rows: int = Field(default=200, ge=10)
    max_attempts: int = Field(default=3, ge=1)
    retry_delay_s: float = Field(default=30.0, ge=0)


class SplitConfig(_Strict):
    """The hold-out split (:func:`valora_ml.splitting.hold_out_split`): the newest
    ``test_fraction`` of the rows when every row is dated, else a ``seed``-keyed hash order."""

    test_fraction: float = Field(default=0.2, gt=0, le=0.5)
    seed: int = 42


class IntervalConfig(_Strict):
    """The cross-conformal, locally adaptive interval (:mod:`valora_ml.intervals`)."""

    level: float = Field(default=0.9, gt=0, lt=1)
    method: Literal["normalised", "cqr"] = "normalised"
    folds: int = Field(default=10, ge=2, le=20)


class ErrorModelConfig(_Strict):
    """The error model (direct loss estimation, :mod:`valora_ml.error_model`): each
    valuation's expected absolute error, learnt from the out-of-fold errors."""

    enabled: bool = True
    target: Literal["relative", "absolute"] = "relative"
    loss: Literal["squared_error", "absolute_error"] = "squared_error"
    max_iter: int = Field(default=50, ge=1, le=2000)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    max_depth: int | None = Field(default=3, ge=1)
    min_samples_leaf: int = Field(default=40, ge=1)


class CandidateSpec(_Strict):
    """A fixed model configuration fitted beside the search's best (e.g. untuned defaults)."""

    family: str
    params: dict[str, Any] = Field(default_factory=dict)
    log_target: bool = False

    @model_validator(mode="after")
    def _check(self) -> CandidateSpec:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        return self


class PrunerConfig(_Strict):
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=1, ge=0)


class SearchConfig(_Strict):
    trials: int = Field(default=30, ge=1)
    timeout_s: float | None = Field(default=900.0, gt=0)
    cv_folds: int = Field(default=3, ge=2)
    seed: int = 42
    threads: int = Field(default=1, ge=1)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    families: dict[str, dict[str, ParamSpec]]
    log_target: ParamSpec = Field(
        default_factory=lambda: ParamSpec(type="categorical", choices=[False])
    )

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}: {unknown}")
        return self


class GateConfig(_Strict):
    max_rmse: float | None = Field(default=None, gt=0)
    max_mape: float | None = Field(default=0.25, gt=0)
    min_r2: float | None = 0.6
    min_coverage: float | None = Field(default=0.8, ge=0, le=1)
    third_coverage: tuple[float, float] | None = (0.85, 0.95)
    third_coverage_confidence: float | None = Field(default=0.8, gt=0, lt=1)
    """A third fails only when its coverage's exact binomial interval at this confidence lies
    outside ``third_coverage`` (``None``: the observed coverage itself must lie inside)."""
    champion_margin: float = Field(default=0.02, ge=0)
    champion_min_rows: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        band = self.third_coverage
        if band is not None and not 0.0 <= band[0] <= band[1] <= 1.0:
            raise ValueError(f"third_coverage must be [low, high] within [0, 1], got {band}")
        return self


class TrainingConfig(_Strict):
    triggers: TriggerConfig = Field(default_factory=TriggerConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    interval: IntervalConfig = Field(default_factory=IntervalConfig)
    error_model: ErrorModelConfig = Field(default_factory=ErrorModelConfig)
    search: SearchConfig
    candidates: dict[str, CandidateSpec] = Field(default_factory=dict)
    candidate_margin: float = Field(default=0.02, ge=0, lt=1)
    """The search's best (tuned on the same rows: an optimistic score) must beat the best fixed
    candidate by this share to be chosen."""
    gate: GateConfig = Field(default_factory=GateConfig)
    promotion: Literal["shadow", "direct"] = "direct"
    """What a gated model becomes when a champion exists: ``direct``, the champion at once;
    ``shadow``, the challenger valued on live traffic until the drift monitor's verdict on
    realised prices promotes or retires it."""
    plots: bool = True
    profile_bins: int = Field(default=10, ge=2)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    return data


def load_config(
    path: Path | None = None, *, overrides: Mapping[str, Any] | None = None
) -> TrainingConfig:
    """The packaged default, deep-merged with ``path`` (if given) and then ``overrides``."""
    default = resources.files("valora_trainer").joinpath("training.yaml").read_text("utf-8")
    data = _read_yaml(default, "training.yaml")
    if path is not None:
        try:
            data = _deep_merge(data, _read_yaml(path.read_text("utf-8"), str(path)))
        except OSError as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from exc
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid training config: {exc}") from exc
