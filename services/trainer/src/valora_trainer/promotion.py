"""A trained model's way to champion: register -> gate -> promote.

:func:`promote` is the one place that sets the ``champion`` alias and the one place that builds
and publishes ``models.promoted.v1``: the in-process run, the Kubeflow ``promote`` step and the
runner's healing of an unannounced champion all call it.
"""

from __future__ import annotations

import logging

import pandas as pd
from valora_contracts import MODELS_PROMOTED, GateResult, ModelMetrics, ModelPromoted, new_id
from valora_messaging import OutgoingRecord, encode_event
from valora_ml.features import FEATURE_COLUMNS, contract_frame
from valora_ml.integrity import ModelIntegrityError
from valora_ml.pricemodel import model_metadata

from valora_trainer.adapters import artifacts
from valora_trainer.adapters.publisher import Publisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import GateConfig
from valora_trainer.domain.dataset import LABEL
from valora_trainer.domain.gate import ChampionScore, evaluate_gate
from valora_trainer.domain.metrics import evaluate_predictions
from valora_trainer.training import Evaluation, FittedModel, TrainingRun

__all__ = ["ANNOUNCED_TAG", "gate", "promote", "register"]

logger = logging.getLogger(__name__)
ANNOUNCED_TAG = "valora.promotion_announced"
"""Model-version tag set once ``models.promoted.v1`` was published for that version."""


def register(
    *, run: TrainingRun, fitted: FittedModel, evaluation: Evaluation, registry: Registry
) -> str:
    """Register the model with its reference profile and interval metadata; the version."""
    model = fitted.model
    example = contract_frame(run.data.train).head(5)[list(FEATURE_COLUMNS)]
    metadata = model_metadata(
        half_width=model.half_width,
        level=model.level,
        model_family=fitted.spec.family,
        extra={"snapshot_hash": run.snapshot_hash, "run_id": run.run_id},
    )
    with artifacts.profile_file(evaluation.profile) as profile_path:
        return registry.register_model(
            run_id=run.run_id,
            model_name=run.model_name,
            model=model,
            example=example,
            metadata=metadata,
            profile_path=profile_path,
        )


def _champion_score(
    registry: Registry, model_name: str, test: pd.DataFrame
) -> ChampionScore | None:
    """The current champion's RMSE on the challenger's test rows (None: no champion)."""
    champion = registry.champion(model_name)
    if champion is None:
        return None
    try:
        predict = registry.load_predictor(model_name, champion.version)
    except ModelIntegrityError as exc:  # never unpickled: the challenger may replace it
        logger.critical(
            "champion refused: its artifact failed verification; gating without it",
            extra={"model_name": model_name, "version": champion.version, "error": str(exc)},
        )
        return None
    rmse = evaluate_predictions(
        test[LABEL].to_numpy(dtype=float), predict(contract_frame(test)), half_width=0.0, n_train=0
    ).metrics.rmse
    return ChampionScore(version=champion.version, rmse=rmse)


def gate(
    *,
    run: TrainingRun,
    version: str,
    metrics: ModelMetrics,
    config: GateConfig,
    registry: Registry,
    request_ids: tuple[str, ...] = (),
) -> GateResult:
    """Absolute thresholds, then the champion on the same test rows; tags version and run."""
    champion = _champion_score(registry, run.model_name, run.data.test)
    result = evaluate_gate(metrics=metrics, config=config, champion=champion)
    passed = str(result.passed).lower()
    registry.set_version_tags(
        run.model_name,
        version,
        {
            "valora.gate_passed": passed,
            "valora.gate_reasons": "; ".join(result.reasons)[:5000],
            "valora.request_ids": ",".join(request_ids),
        },
    )
    registry.set_tags(run.run_id, {"valora.gate_passed": passed, "valora.version": version})
    logger.info(
        "gate evaluated",
        extra={
            "model_name": run.model_name,
            "version": version,
            "passed": result.passed,
            "reasons": result.reasons,
            "champion_rmse": result.champion_rmse,
            "rmse": metrics.rmse,
        },
    )
    return result


def promote(
    *,
    model_name: str,
    version: str,
    run_id: str,
    metrics: ModelMetrics,
    registry: Registry,
    publisher: Publisher,
    trace_id: str | None = None,
) -> ModelPromoted:
    """Alias ``version`` ``champion`` (unless it already is), publish ``models.promoted.v1``
    (with the version's recorded artifact SHA-256), then tag the version announced. A crash
    between alias and tag leaves a champion without the tag, and the runner promotes it again
    (announcing it) before its next run."""
    current = registry.champion(model_name)
    previous = None
    if current is None or current.version != version:
        registry.set_champion(model_name, version)
        previous = current.version if current is not None else None
    event = ModelPromoted(
        model_name=model_name,
        model_version=version,
        run_id=run_id,
        previous_version=previous,
        metrics=metrics,
        model_sha256=registry.model_sha256(model_name, version),
        trace_id=trace_id or new_id(),
    )
    publisher.publish(
        [OutgoingRecord(MODELS_PROMOTED.name, encode_event(event), model_name.encode())]
    )
    registry.set_version_tags(model_name, version, {ANNOUNCED_TAG: "true"})
    logger.info(
        "model promoted",
        extra={"model_name": model_name, "version": version, "previous_version": previous},
    )
    return event
