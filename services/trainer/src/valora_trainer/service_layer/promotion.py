"""A trained model's way to champion: register (the served model) -> gate (the gate model's
figures; the champion compared on rows neither learnt from, see
:mod:`valora_trainer.domain.gate`) -> promote.

:func:`promote` is the one place that sets the ``champion`` alias and the one place that builds
and publishes ``models.promoted.v1``: the in-process run, the Kubeflow ``promote`` step and the
runner's healing of an unannounced champion all call it.
"""

from __future__ import annotations

import logging

import numpy as np
from valora_contracts import MODELS_PROMOTED, GateResult, ModelMetrics, ModelPromoted, new_id
from valora_messaging import OutgoingRecord, encode_event
from valora_ml.features import FEATURE_COLUMNS, contract_frame
from valora_ml.fitting import model_inputs
from valora_ml.integrity import ModelIntegrityError
from valora_ml.pricemodel import model_metadata, valuation_metadata

from valora_trainer.adapters import artifacts
from valora_trainer.adapters.publisher import Publisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.config import GateConfig
from valora_trainer.domain.dataset import LABEL
from valora_trainer.domain.gate import (
    ChampionScore,
    champion_out_of_sample,
    evaluate_gate,
    score_champion,
)
from valora_trainer.service_layer.modelling import Evaluation, GateModel, ServedModel
from valora_trainer.service_layer.training import TrainingRun

__all__ = ["ANNOUNCED_TAG", "gate", "promote", "register"]

logger = logging.getLogger(__name__)
ANNOUNCED_TAG = "valora.promotion_announced"
"""Model-version tag set once ``models.promoted.v1`` was published for that version."""


def register(
    *,
    run: TrainingRun,
    gate: GateModel,
    served: ServedModel,
    registry: Registry,
    evaluation: Evaluation | None = None,
) -> str:
    """Register the served model with its reference profile, interval, training ranges,
    row counts and (given ``evaluation``) the gate model's test MAE in the metadata (what the
    drift monitor compares the estimated and realised errors with); the version."""
    model = served.model
    test = {"test_mae": evaluation.metrics.mae} if evaluation is not None else {}
    example = contract_frame(run.data.fit).head(5)[list(FEATURE_COLUMNS)]
    metadata = model_metadata(
        half_width=model.half_width,
        level=model.level,
        model_family=model.model_family,
        extra={
            **valuation_metadata(model),
            **served.rows.as_params(),
            "split": run.data.kind,
            "champion_candidate": gate.fitted.chosen,
            "snapshot_hash": run.snapshot_hash,
            "run_id": run.run_id,
            **test,
        },
    )
    with artifacts.profile_file(served.profile) as profile_path:
        return registry.register_model(
            run_id=run.run_id,
            model_name=run.model_name,
            model=model,
            example=example,
            metadata=metadata,
            profile_path=profile_path,
        )


def _logged_test_rmse(registry: Registry, run_id: str) -> float | None:
    try:
        return registry.run_metrics(run_id).get("test_rmse")
    except Exception as exc:  # a champion without a readable run: no logged figure to use
        logger.warning("champion run unreadable", extra={"run_id": run_id, "error": str(exc)})
        return None


def _champion_score(
    registry: Registry, run: TrainingRun, evaluation: Evaluation, config: GateConfig
) -> ChampionScore | None:
    """The champion beside the challenger on test rows neither learnt from (None: no champion,
    or no comparison possible); see :mod:`valora_trainer.domain.gate`."""
    champion = registry.champion(run.model_name)
    if champion is None:
        return None
    test = run.data.test
    seen = champion_out_of_sample(
        test["listing_id"].astype(str).tolist(),
        snapshot_ids=artifacts.read_snapshot_ids(registry, run_id=champion.run_id),
        logged=artifacts.read_test_predictions(registry, run_id=champion.run_id),
    )
    predictions = seen.logged.copy()
    if seen.unseen.any():
        try:
            predict = registry.load_predictor(run.model_name, champion.version)
        except ModelIntegrityError as exc:  # never unpickled: the challenger may replace it
            logger.critical(
                "champion refused: its artifact failed verification; gating without it",
                extra={
                    "model_name": run.model_name,
                    "version": champion.version,
                    "error": str(exc),
                },
            )
            return None
        unseen_rows = model_inputs(test.loc[test.index[seen.unseen]])
        predictions[seen.unseen] = np.asarray(predict(unseen_rows), dtype=float)
    return score_champion(
        version=champion.version,
        y_true=test[LABEL].to_numpy(dtype=float),
        challenger=evaluation.predictions,
        champion=predictions,
        min_rows=config.champion_min_rows,
        logged_rmse=_logged_test_rmse(registry, champion.run_id),
        challenger_test_rmse=evaluation.metrics.rmse,
    )


def gate(
    *,
    run: TrainingRun,
    version: str,
    evaluation: Evaluation,
    config: GateConfig,
    registry: Registry,
    request_ids: tuple[str, ...] = (),
) -> GateResult:
    """Absolute thresholds, the interval per price third, then the champion on rows neither
    model learnt from; tags version and run."""
    champion = _champion_score(registry, run, evaluation, config)
    metrics = evaluation.metrics
    result = evaluate_gate(
        metrics=metrics, quality=evaluation.scores.quality, config=config, champion=champion
    )
    if champion is not None:
        registry.log_metrics(
            run.run_id,
            {
                "gate.champion_rmse": champion.rmse,
                "gate.challenger_rmse": champion.challenger_rmse,
                "gate.champion_rows": float(champion.rows),
            },
        )
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
            "champion_basis": champion.basis if champion else None,
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
