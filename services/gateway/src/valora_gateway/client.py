"""Valuation through the predictor: single (micro-batched) and many, errors mapped to types."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from valora_contracts import (
    ListingFeatures,
    PredictionInput,
    PredictionReply,
    PredictionRequested,
    PredictionResult,
)

from valora_gateway.batcher import MicroBatcher
from valora_gateway.errors import NoChampionError, PredictorError
from valora_gateway.replies import ReplyRouter

__all__ = ["REQUEST_ITEMS", "PredictionClient", "results_of"]

REQUEST_ITEMS = 500
"""Most houses in one ``PredictionRequested`` (keeps requests and replies well under Kafka's
default 1 MB message limit)."""


def results_of(reply: PredictionReply, expected: int) -> list[PredictionResult]:
    """The results of a reply, or the typed error it carries."""
    if reply.error is not None:
        # a reply without a code comes from a predictor older than error_code (rolling upgrade)
        if reply.error_code == "no_champion" or (
            reply.error_code is None and reply.error.startswith("no champion")
        ):
            raise NoChampionError(reply.error)
        raise PredictorError(reply.error)
    if len(reply.results) != expected:
        raise PredictorError(f"the predictor answered {len(reply.results)} of {expected} inputs")
    return reply.results


class PredictionClient:
    """What routes call to value houses."""

    def __init__(
        self,
        *,
        router: ReplyRouter,
        timeout_s: float,
        max_items: int,
        window_s: float,
        max_inflight: int = 2,
    ) -> None:
        self._router = router
        self._timeout = timeout_s
        self.batcher = MicroBatcher(
            send=self._send, max_items=max_items, window_s=window_s, max_inflight=max_inflight
        )

    async def _send(self, items: Sequence[PredictionInput]) -> list[PredictionResult]:
        event = PredictionRequested(
            reply_to=self._router.reply_topic, source="sync", items=list(items)
        )
        reply = await self._router.request(event, timeout_s=self._timeout)
        return results_of(reply, len(items))

    async def predict_one(
        self, features: ListingFeatures, *, listing_id: str | None = None
    ) -> PredictionResult:
        return await self.batcher.submit(PredictionInput(features=features, listing_id=listing_id))

    async def predict_many(self, houses: Sequence[ListingFeatures]) -> list[PredictionResult]:
        """One request per ``REQUEST_ITEMS`` houses (sent concurrently), answers in order."""
        items = [PredictionInput(features=f) for f in houses]
        chunks = [items[i : i + REQUEST_ITEMS] for i in range(0, len(items), REQUEST_ITEMS)]
        answered = await asyncio.gather(*(self._send(c) for c in chunks))
        by_id = {r.input_id: r for results in answered for r in results}
        return [by_id[i.input_id] for i in items]

    async def send_batch_chunk(self, *, job_id: str, items: Sequence[PredictionInput]) -> None:
        """Publish one chunk of a batch job (completion is read from the stored predictions)."""
        await self._router.send(
            PredictionRequested(
                reply_to=self._router.reply_topic,
                source="batch",
                batch_job_id=job_id,
                items=list(items),
            )
        )
