"""A platform without a champion trains as soon as it can.

:class:`FirstTraining` requests one training run (reason ``startup``) when the training store
holds at least ``bootstrap_min_rows`` labelled listings and no champion exists. It looks at
start-up and again after new labels arrive (the listings handler calls :meth:`note_labels`, the
runner's loop calls :meth:`check` between runs: at most one look per loop turn, so a stream of
listings costs one MLflow alias look-up and one row count every ``runner_poll_s``, not one per
batch). Once a champion exists it never looks again.

One request, not one per batch: nothing is requested while a request of the model is open, and
after a request of its own (say the gate rejected that first model) it asks again only once the
store has grown by another ``bootstrap_min_rows`` rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from valora_contracts import TrainingRequested

from valora_trainer.adapters.registry import Registry
from valora_trainer.entrypoints.handlers import request_bootstrap_training

__all__ = ["FirstTraining"]


class FirstTraining:
    """See the module docstring. ``on_request`` wakes the runner."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        model_name: str,
        sources: Sequence[str],
        min_rows: int,
        on_request: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._model_name = model_name
        self._sources = tuple(sources)
        self._min_rows = min_rows
        self._on_request = on_request
        self._due = True  # look at start-up
        self._has_champion = False
        self._requested_at_rows: int | None = None

    @property
    def due(self) -> bool:
        """Whether :meth:`check` would look (no champion seen, and new labels since)."""
        return self._due and not self._has_champion

    def note_labels(self, count: int) -> None:
        """New labelled listings were stored: look again at the next :meth:`check`."""
        if count > 0 and not self._has_champion:
            self._due = True

    async def check(self) -> TrainingRequested | None:
        """Request the first training run if it is time (see the module docstring). A failure
        (MLflow or PostgreSQL down) leaves the check due for the next turn, and is raised."""
        if not self.due:
            return None
        self._due = False
        try:
            return await self._look()
        except BaseException:
            self._due = True
            raise

    async def _look(self) -> TrainingRequested | None:
        champion = await asyncio.to_thread(self._registry.champion, self._model_name)
        if champion is not None:
            self._has_champion = True
            return None
        min_rows = self._min_rows
        if self._requested_at_rows is not None:
            min_rows = self._requested_at_rows + self._min_rows
        event = await request_bootstrap_training(
            sessions=self._sessions,
            model_name=self._model_name,
            sources=self._sources,
            has_champion=False,
            min_rows=min_rows,
        )
        if event is None:
            return None
        self._requested_at_rows = event.rows
        self._on_request()
        return event.request
