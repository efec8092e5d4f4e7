"""The predictor's model lifecycle handlers: a new champion (``models.promoted.v1``) and a
challenger starting or stopping to shadow it (``models.challengers.v1``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from valora_contracts import MODELS_CHALLENGERS, ChallengerChanged, ModelPromoted
from valora_messaging import InRecord
from valora_observability import ServiceMetrics

from valora_predictor.domain.holder import ModelHolder
from valora_predictor.errors import InvalidRecordError

__all__ = ["ChallengerHandler", "PromotionHandler"]

logger = logging.getLogger(__name__)


class PromotionHandler:
    """``models.promoted.v1``: start loading the new champion in the background. A record that
    is not a ``ModelPromoted`` raises :class:`InvalidRecordError` (dead-lettered by the policy).
    """

    def __init__(self, *, holder: ModelHolder) -> None:
        self._holder = holder

    async def handle_batch(self, records: Sequence[InRecord]) -> int:
        """The number of refreshes started (events for the served model name)."""
        started = 0
        for record in records:
            started += await self.handle(record.value)
        return started

    async def handle(self, value: bytes) -> bool:
        """True when a refresh was started (the event is for the served model name)."""
        try:
            event = ModelPromoted.model_validate_json(value)
        except ValueError as exc:
            raise InvalidRecordError(f"invalid ModelPromoted: {exc}") from exc
        if event.model_name != self._holder.model_name:
            return False
        logger.info("champion promoted", extra={"model_version": event.model_version})
        self._holder.announce(event.model_version, event.model_sha256)
        self._holder.refresh_in_background(reason=f"promoted {event.model_version}")
        return True


class ChallengerHandler:
    """``models.challengers.v1``: load a new challenger in the background, or drop one that
    was promoted or retired (at once: no shadow answer after the decision). Handled events are
    counted on ``valora_messages_total``."""

    def __init__(self, *, holder: ModelHolder, metrics: ServiceMetrics | None = None) -> None:
        self._holder = holder
        self._metrics = metrics

    async def handle_batch(self, records: Sequence[InRecord]) -> int:
        """The number of events for the served model name."""
        handled = 0
        for record in records:
            handled += await self.handle(record.value)
        if self._metrics is not None and records:
            m = self._metrics
            m.messages.labels(m.service, MODELS_CHALLENGERS.name, "handled").inc(len(records))
        return handled

    async def handle(self, value: bytes) -> bool:
        try:
            event = ChallengerChanged.model_validate_json(value)
        except ValueError as exc:
            raise InvalidRecordError(f"invalid ChallengerChanged: {exc}") from exc
        if event.model_name != self._holder.model_name:
            return False
        logger.info(
            "challenger %s",
            event.status,
            extra={"model_version": event.model_version, "explanation": event.explanation},
        )
        if event.status == "shadowing":
            self._holder.announce(event.model_version, event.model_sha256)
            self._holder.refresh_in_background(reason=f"challenger {event.model_version}")
        else:
            current = self._holder.current
            if current is not None and current.ref.version == event.model_version:
                self._holder.drop(reason=event.status)
        return True
