"""What starts and stops around the predictor's consumers, in order.

Start-up: the topic lister, producer lanes and store open, the champion (and a challenger) is
loaded if there is one; once the consumers run, deferred commits and the alias polls start.
Shutdown: deferred offsets are flushed before the consumers stop (later batches commit
synchronously), the polls stop; after the consumers finished their in-flight work the clients close.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from valora_messaging import DeferredCommits, ProducerLanes, TopicLister

from valora_predictor.adapters.store import SqlPredictionStore
from valora_predictor.domain.holder import ChampionPolling, ModelHolder

__all__ = ["PredictorLifecycle"]

logger = logging.getLogger(__name__)


@dataclass
class PredictorLifecycle:
    holder: ModelHolder
    champion: ChampionPolling
    store: SqlPredictionStore
    lanes: ProducerLanes
    topics: TopicLister
    commits: DeferredCommits | None
    challenger: ChampionPolling | None = None

    async def start_clients(self) -> None:
        logger.info("predictor starting", extra={"model_name": self.holder.model_name})
        await self.topics.start()
        await self.lanes.start()
        await self.store.start()
        await self.champion.load_first()
        if self.challenger is not None:
            await self.challenger.load_first()

    async def start_background(self) -> None:
        if self.commits is not None:
            await self.commits.start()
        self.champion.start()
        if self.challenger is not None:
            self.challenger.start()

    async def stop_background(self) -> None:
        if self.commits is not None:
            await self.commits.close()
        await self.champion.stop()
        if self.challenger is not None:
            await self.challenger.stop()

    async def stop_clients(self) -> None:
        await self.lanes.stop()
        await self.store.close()
        await self.topics.stop()

    async def champion_ready(self) -> bool:
        return self.holder.current is not None
