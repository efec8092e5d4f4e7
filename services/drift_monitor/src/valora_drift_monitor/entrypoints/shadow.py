"""Shadow challengers in the drift monitor: pairs stored, challengers judged on realised sales,
verdicts published (``models.verdict.v1``).

:class:`ShadowJudge` runs after every batch of pairs or sales (and on a timer, for timeouts):
for each undecided challenger it reads the pairs with a sale, judges them
(:func:`~valora_drift_monitor.domain.shadow.judge`) and records the look; a decision is stored
once with its verdict in the outbox, then published and marked sent (the outbox sweeper re-sends
it after a crash in between). :class:`ShadowStep` stores ``predictions.shadow.v1`` pairs;
:class:`ChallengersHandler` starts an evaluation when ``models.challengers.v1`` announces a
challenger and closes one the trainer retired for another reason (replaced).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from valora_contracts import (
    MODELS_VERDICT,
    ChallengerChanged,
    ModelVerdict,
    ShadowPrediction,
    utcnow,
)
from valora_messaging import InRecord, OutgoingRecord, encode_event

from valora_drift_monitor.adapters.shadow_metrics import ShadowMetrics
from valora_drift_monitor.domain.ports import AlertStore, OutboxEntry, ShadowStore
from valora_drift_monitor.domain.shadow import (
    OpenEvaluation,
    PairRow,
    ShadowFigures,
    ShadowPolicy,
    figures_of,
    judge,
)
from valora_drift_monitor.entrypoints.handlers import StepResult
from valora_drift_monitor.errors import DriftStoreError, InvalidEventError

__all__ = ["ChallengersHandler", "ShadowJudge", "ShadowStep"]

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutgoingRecord]) -> object: ...


def _verdict(
    evaluation: OpenEvaluation,
    figures: ShadowFigures,
    decision: str,
    explanation: str,
    alpha: float,
) -> ModelVerdict:
    return ModelVerdict(
        model_name=evaluation.model_name,
        challenger_version=evaluation.challenger_version,
        champion_version=evaluation.champion_version or "unknown",
        decision=decision,  # type: ignore[arg-type]
        explanation=explanation[:2000],
        paired_sales=figures.paired_sales,
        champion_mae=_finite(figures.champion_mae),
        challenger_mae=_finite(figures.challenger_mae),
        champion_mape=_finite(figures.champion_mape),
        challenger_mape=_finite(figures.challenger_mape),
        champion_coverage=_finite(figures.champion_coverage),
        challenger_coverage=_finite(figures.challenger_coverage),
        statistic=figures.statistic,
        p_value=figures.p_value,
        alpha=alpha,
    )


def _finite(value: float) -> float:
    return value if value == value else 0.0  # NaN (no sale yet, a timeout): 0


class ShadowJudge:
    """Judges every undecided challenger of the model on its paired sales."""

    def __init__(
        self,
        *,
        model_name: str,
        store: ShadowStore,
        alerts: AlertStore,
        publisher: Publisher,
        metrics: ShadowMetrics,
        policy: ShadowPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._model_name = model_name
        self._store = store
        self._alerts = alerts
        self._publisher = publisher
        self._metrics = metrics
        self._policy = policy
        self._clock = clock

    async def evaluate(self) -> list[ModelVerdict]:
        """The verdicts this call decided (usually none). A store failure raises (the batch is
        redelivered); any other failure of one challenger's judgement is logged and the others
        are judged: it never stalls the sales or pairs that called it."""
        decided: list[ModelVerdict] = []
        for evaluation in await self._store.open_evaluations(self._model_name):
            try:
                verdict = await self._judge(evaluation)
            except DriftStoreError:
                raise
            except Exception:
                logger.exception(
                    "challenger not judged", extra={"version": evaluation.challenger_version}
                )
                continue
            if verdict is not None:
                decided.append(verdict)
        return decided

    async def _judge(self, evaluation: OpenEvaluation) -> ModelVerdict | None:
        policy, version = self._policy, evaluation.challenger_version
        pairs = await self._store.paired(
            model_name=self._model_name, version=version, cap=policy.looks * policy.min_sales
        )
        elapsed = (self._clock() - evaluation.started_at).total_seconds()
        judged = judge(pairs, policy=policy, looks_taken=evaluation.looks_taken, elapsed_s=elapsed)
        if judged.figures is None:  # between looks: the figures so far, for status and metrics
            if len(pairs) and len(pairs) != evaluation.paired_sales:
                current = figures_of(pairs, evaluation.looks_taken)
                self._metrics.observe(version, len(pairs), current)
                await self._store.record(
                    model_name=self._model_name, version=version,
                    figures={**current.as_dict(), "alpha_per_look": policy.alpha_per_look},
                    paired_sales=len(pairs),
                )  # fmt: skip
            return None
        self._metrics.observe(version, len(pairs), judged.figures)
        figures: dict[str, Any] = {
            **judged.figures.as_dict(),
            "alpha_per_look": policy.alpha_per_look,
        }
        if judged.decision is None:
            await self._store.record(
                model_name=self._model_name, version=version, figures=figures,
                paired_sales=len(pairs),
            )  # fmt: skip
            logger.info("challenger looked at", extra={"version": version, **figures})
            return None
        verdict = _verdict(
            evaluation, judged.figures, judged.decision, judged.explanation, policy.alpha
        )
        return verdict if await self._decide(verdict, figures) else None

    async def _decide(self, verdict: ModelVerdict, figures: dict[str, Any]) -> bool:
        record = OutgoingRecord(
            MODELS_VERDICT.name, encode_event(verdict), verdict.model_name.encode()
        )
        entry = OutboxEntry(verdict.event_id, record.topic, record.key, record.value)
        stored = await self._store.decide(
            model_name=verdict.model_name,
            version=verdict.challenger_version,
            decision=verdict.decision,
            explanation=verdict.explanation,
            figures=figures,
            paired_sales=verdict.paired_sales,
            event=entry,
        )
        if not stored:  # another replica decided first
            return False
        self._metrics.decisions.labels(self._metrics.service, verdict.decision).inc()
        logger.warning(
            "challenger verdict: %s",
            verdict.decision,
            extra={
                "version": verdict.challenger_version,
                "paired_sales": verdict.paired_sales,
                "explanation": verdict.explanation,
            },
        )
        try:
            await self._publisher.publish([record])
            await self._alerts.mark_published([verdict.event_id])
        except Exception as exc:  # stored in the outbox: the sweeper re-sends it
            logger.warning("verdict not published yet", extra={"error": repr(exc)})
        return True


class ShadowStep:
    """``predictions.shadow.v1``: store the pairs of listings (the others cannot be joined to
    a sale), then judge."""

    def __init__(
        self, *, model_name: str, store: ShadowStore, judge: ShadowJudge, metrics: ShadowMetrics
    ) -> None:
        self._model_name = model_name
        self._store = store
        self._judge = judge
        self._metrics = metrics

    async def run(self, events: list[ShadowPrediction]) -> StepResult:
        rows = [
            PairRow(
                model_name=e.model_name,
                challenger_version=e.challenger_version,
                listing_id=e.listing_id,
                champion_version=e.champion_version,
                champion_price=e.champion_price,
                champion_lower=e.champion_lower,
                champion_upper=e.champion_upper,
                challenger_price=e.challenger_price,
                challenger_lower=e.challenger_lower,
                challenger_upper=e.challenger_upper,
                predicted_at=e.occurred_at,
            )
            for e in events
            if e.model_name == self._model_name and e.listing_id
        ]
        if rows:
            await self._store.add_pairs(self._model_name, rows)
            self._metrics.pairs.labels(self._metrics.service, self._model_name).inc(len(rows))
            await self._judge.evaluate()
        return StepResult([], set())


class ChallengersHandler:
    """``models.challengers.v1``: an announced challenger's evaluation starts; one the trainer
    retired or promoted is closed (if no verdict closed it already)."""

    def __init__(
        self, *, model_name: str, store: ShadowStore, count: Callable[[str, int], None]
    ) -> None:
        self._model_name = model_name
        self._store = store
        self._count = count

    async def handle_batch(self, records: Sequence[InRecord]) -> None:
        for record in records:
            await self.handle(record.value)
        self._count("challenger", len(records))

    async def handle(self, value: bytes) -> None:
        try:
            event = ChallengerChanged.model_validate_json(value)
        except ValueError as exc:
            raise InvalidEventError(f"invalid ChallengerChanged: {exc}") from exc
        if event.model_name != self._model_name:
            return
        if event.status == "shadowing":
            await self._store.start(
                model_name=event.model_name,
                version=event.model_version,
                champion_version=event.champion_version or "",
                at=event.occurred_at,
            )
            return
        await self._store.decide(
            model_name=event.model_name,
            version=event.model_version,
            decision="promote" if event.status == "promoted" else "retire",
            explanation=f"closed by the trainer: {event.explanation}",
            figures=None,
            paired_sales=None,
            event=None,
        )
