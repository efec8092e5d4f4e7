"""A gated model's other way to champion: shadow the champion as ``challenger``, then carry
out the drift monitor's verdict (``models.verdict.v1``) on realised prices.

:func:`nominate` aliases a version ``challenger`` and announces it on ``models.challengers.v1``
(a challenger it replaces is announced retired). :func:`apply_verdict` promotes it through
:func:`~valora_trainer.service_layer.promotion.promote` (the one place that sets ``champion``)
or retires it; either way the alias is removed and the change announced. Both are idempotent:
a redelivered verdict for a challenger that is no longer aliased changes nothing, and one that
crashed half-way is carried out again (promote publishes the same promotion again).
"""

from __future__ import annotations

import logging
from typing import Literal

from valora_contracts import (
    MODELS_CHALLENGERS,
    ChallengerChanged,
    ChallengerStatus,
    ModelMetrics,
    ModelVerdict,
    new_id,
)
from valora_messaging import OutgoingRecord, encode_event

from valora_trainer.adapters.publisher import Publisher
from valora_trainer.adapters.registry import Registry
from valora_trainer.domain.metrics import metrics_from_run
from valora_trainer.service_layer.promotion import promote

__all__ = ["VERDICT_TAG", "apply_verdict", "nominate"]

logger = logging.getLogger(__name__)
VERDICT_TAG = "valora.verdict"
"""Model-version tag: the verdict on a challenger (promote or retire) and, beside it, why."""


def _announce(
    publisher: Publisher,
    *,
    model_name: str,
    version: str,
    status: ChallengerStatus,
    explanation: str,
    registry: Registry,
    champion_version: str | None = None,
    run_id: str | None = None,
    metrics: ModelMetrics | None = None,
    trace_id: str | None = None,
) -> ChallengerChanged:
    event = ChallengerChanged(
        model_name=model_name,
        model_version=version,
        status=status,
        champion_version=champion_version,
        run_id=run_id,
        model_sha256=registry.model_sha256(model_name, version) if status == "shadowing" else None,
        explanation=explanation[:2000],
        metrics=metrics,
        trace_id=trace_id or new_id(),
    )
    publisher.publish(
        [OutgoingRecord(MODELS_CHALLENGERS.name, encode_event(event), model_name.encode())]
    )
    return event


def nominate(
    *,
    model_name: str,
    version: str,
    run_id: str,
    metrics: ModelMetrics,
    registry: Registry,
    publisher: Publisher,
    trace_id: str | None = None,
) -> ChallengerChanged:
    """Alias ``version`` ``challenger`` (retiring the one it replaces) and announce it: every
    predictor values traffic with it in the shadow, the drift monitor judges it."""
    champion = registry.champion(model_name)
    previous = registry.challenger(model_name)
    registry.set_challenger(model_name, version)
    if previous is not None and previous.version != version:
        registry.set_version_tags(
            model_name, previous.version, {VERDICT_TAG: "retire", f"{VERDICT_TAG}_why": "replaced"}
        )
        _announce(
            publisher,
            model_name=model_name,
            version=previous.version,
            status="retired",
            explanation=f"replaced by challenger v{version}",
            registry=registry,
            trace_id=trace_id,
        )
    event = _announce(
        publisher,
        model_name=model_name,
        version=version,
        status="shadowing",
        explanation="gate passed; promotion: shadow",
        registry=registry,
        champion_version=champion.version if champion else None,
        run_id=run_id,
        metrics=metrics,
        trace_id=trace_id,
    )
    logger.info(
        "challenger nominated",
        extra={
            "model_name": model_name,
            "version": version,
            "champion_version": event.champion_version,
            "replaced": previous.version if previous else None,
        },
    )
    return event


def apply_verdict(
    *, verdict: ModelVerdict, registry: Registry, publisher: Publisher
) -> Literal["promoted", "retired", "stale"]:
    """Carry out ``verdict`` if its challenger is still the aliased one."""
    name, version = verdict.model_name, verdict.challenger_version
    current = registry.challenger(name)
    if current is None or current.version != version:
        logger.info(
            "verdict on a version that is not the challenger: nothing to do",
            extra={"model_name": name, "version": version, "decision": verdict.decision},
        )
        return "stale"
    registry.set_version_tags(
        name,
        version,
        {
            VERDICT_TAG: verdict.decision,
            f"{VERDICT_TAG}_why": verdict.explanation[:5000],
            f"{VERDICT_TAG}_paired_sales": str(verdict.paired_sales),
        },
    )
    champion = registry.champion(name)
    status: Literal["promoted", "retired"] = "retired"
    if verdict.decision == "promote":
        promote(
            model_name=name,
            version=version,
            run_id=current.run_id,
            metrics=metrics_from_run(registry.run_metrics(current.run_id)),
            registry=registry,
            publisher=publisher,
            trace_id=verdict.trace_id,
        )
        status = "promoted"
    registry.set_challenger(name, None)
    _announce(
        publisher,
        model_name=name,
        version=version,
        status=status,
        explanation=verdict.explanation,
        registry=registry,
        champion_version=champion.version if champion else None,
        run_id=current.run_id,
        trace_id=verdict.trace_id,
    )
    logger.warning(
        "challenger %s",
        status,
        extra={
            "model_name": name,
            "version": version,
            "paired_sales": verdict.paired_sales,
            "explanation": verdict.explanation,
        },
    )
    return status
