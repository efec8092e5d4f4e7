"""The champion currently served (or the challenger shadowing it), and its hot swap.

A new version is loaded in a worker thread and warmed up while the old one keeps serving; then a
single reference assignment swaps it in. A batch takes ``holder.current`` once, so it is valued
entirely by one version, and no request ever waits on (or fails because of) a swap.

A version whose artifact fails verification (its SHA-256 differs from the one announced in
``models.promoted.v1`` or recorded on the version) is never deserialised: the previous champion
keeps serving, ``on_refused`` alerts once, and the version is not tried again until it is
announced again.

A holder follows one alias: ``champion`` (kept when the alias is unreadable or gone: a served
champion is never dropped) or ``challenger`` (dropped when the alias is gone: the challenger
was promoted or retired).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import pandas as pd
from valora_ml.integrity import ModelIntegrityError
from valora_ml.pricemodel import CHAMPION_ALIAS

from valora_predictor.domain.model import ModelHandle, ModelLoader, ModelRef
from valora_predictor.errors import ModelLoadError

__all__ = ["ChampionPolling", "ModelHolder", "warmup_frame"]

logger = logging.getLogger(__name__)


def warmup_frame() -> pd.DataFrame:
    """One plausible house, used to warm a model up before it serves."""
    return pd.DataFrame(
        {
            "area": [100.0],
            "bedrooms": [2],
            "bathrooms": [1],
            "age": [10.0],
            "garage": [1],
            "neighbourhood": ["Centro"],
        }
    )


class ModelHolder:
    """Holds the served :class:`ModelHandle`; refreshes it from its alias."""

    def __init__(
        self,
        *,
        loader: ModelLoader,
        model_name: str,
        alias: str = CHAMPION_ALIAS,
        on_swap: Callable[[ModelHandle | None], None] | None = None,
        on_refused: Callable[[ModelRef, ModelIntegrityError], Awaitable[None]] | None = None,
    ) -> None:
        self._loader = loader
        self._name = model_name
        self._alias = alias
        self._current: ModelHandle | None = None
        self._lock = asyncio.Lock()
        self._on_swap = on_swap
        self._on_refused = on_refused
        self._announced: dict[str, str] = {}  # version -> SHA-256 from models.promoted.v1
        self._refused: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def alias(self) -> str:
        return self._alias

    @property
    def current(self) -> ModelHandle | None:
        return self._current

    def announce(self, version: str, sha256: str | None) -> None:
        """``models.promoted.v1`` named ``version`` (with its digest): verify against that, and
        try the version again even if it was refused before."""
        self._refused.discard(version)
        if sha256 is not None:
            self._announced[version] = sha256

    def install(self, handle: ModelHandle) -> None:
        """Swap ``handle`` in (one reference assignment: atomic for every reader)."""
        previous = self._current
        self._current = handle
        if self._on_swap is not None:
            self._on_swap(handle)
        logger.info(
            "%s swapped in",
            self._alias,
            extra={
                "model_name": handle.ref.name,
                "model_version": handle.ref.version,
                "previous_version": previous.ref.version if previous else None,
            },
        )

    def drop(self, *, reason: str) -> None:
        """Stop serving (a challenger promoted or retired); the champion is never dropped."""
        if self._alias == CHAMPION_ALIAS or self._current is None:
            return
        previous, self._current = self._current, None
        if self._on_swap is not None:
            self._on_swap(None)
        logger.info(
            "%s dropped",
            self._alias,
            extra={"model_version": previous.ref.version, "reason": reason},
        )

    async def refresh(self) -> ModelHandle | None:
        """Resolve the alias; load and swap in the version if it is new."""
        async with self._lock:
            ref = await asyncio.to_thread(self._loader.resolve_alias, self._name, self._alias)
            if ref is None:
                self.drop(reason=f"no {self._alias} alias")
                return self._current
            current = self._current
            if ref.version in self._refused or (
                current is not None and current.ref.version == ref.version
            ):
                return current
            try:
                handle = await self._load(ref)
            except ModelIntegrityError as exc:
                self._refused.add(ref.version)
                if self._on_refused is not None:
                    await self._on_refused(ref, exc)
                raise
            self.install(handle)
            return handle

    async def _load(self, ref: ModelRef) -> ModelHandle:
        started = time.perf_counter()

        expected = self._announced.get(ref.version)

        def load_and_warm() -> ModelHandle:
            handle = self._loader.load(ref, expected_sha256=expected)
            handle.predict(warmup_frame())
            return handle

        handle = await asyncio.to_thread(load_and_warm)
        logger.info(
            "model ready",
            extra={"model_version": ref.version, "load_s": round(time.perf_counter() - started, 3)},
        )
        return handle

    def refresh_in_background(self, *, reason: str) -> None:
        """Start a refresh without waiting for it (used on ``models.promoted.v1``)."""
        task = asyncio.create_task(self._refresh_logged(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_logged(self, reason: str) -> None:
        try:
            await self.refresh()
        except (ModelLoadError, ModelIntegrityError, OSError) as exc:
            logger.error(
                "%s refresh failed", self._alias, extra={"reason": reason, "error": str(exc)}
            )
        except Exception:
            logger.exception("%s refresh failed", self._alias, extra={"reason": reason})

    async def poll_forever(self, *, interval_s: float, idle_interval_s: float) -> None:
        """Re-read the alias periodically (faster while nothing is served)."""
        while True:
            await self._refresh_logged("poll")
            await asyncio.sleep(interval_s if self._current is not None else idle_interval_s)

    async def wait_idle(self) -> None:
        """Wait for background refreshes (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class ChampionPolling:
    """Loads the holder's model at start (if there is one) and re-reads the alias in the
    background."""

    def __init__(self, *, holder: ModelHolder, interval_s: float, idle_interval_s: float) -> None:
        self._holder = holder
        self._interval_s = interval_s
        self._idle_interval_s = idle_interval_s
        self._task: asyncio.Task[None] | None = None

    async def load_first(self) -> None:
        try:
            await self._holder.refresh()
        except Exception as exc:  # MLflow down or no model: keep polling, reply with errors
            logger.warning("no %s at start", self._holder.alias, extra={"error": str(exc)[:500]})
        if self._holder.current is None and self._holder.alias == CHAMPION_ALIAS:
            logger.warning("no champion yet", extra={"model_name": self._holder.model_name})

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._holder.poll_forever(
                    interval_s=self._interval_s, idle_interval_s=self._idle_interval_s
                ),
                name=f"valora-{self._holder.alias}-poll",
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
