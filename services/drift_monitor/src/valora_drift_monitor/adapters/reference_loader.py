"""Where references come from: MLflow, and a cache of the champion and recent versions.

The trainer logs ``reference_profile.json`` (:data:`valora_ml.profile.PROFILE_FILENAME`) as an
artifact of every model version's run and its hold-out metrics as ``test_mae`` / ``test_mape``.
:class:`MlflowReferenceSource` reads them over HTTP (blocking: call it in a thread);
:class:`References` keeps the champion and a small per-version cache for the handlers.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import ValidationError
from valora_contracts import ModelPromoted
from valora_ml.profile import PROFILE_FILENAME, ReferenceProfile

from valora_drift_monitor.domain.ports import ReferenceSource
from valora_drift_monitor.domain.reference import Reference
from valora_drift_monitor.errors import ReferenceUnavailableError

__all__ = ["MlflowReferenceSource", "References"]

logger = logging.getLogger(__name__)
CHAMPION_ALIAS = "champion"
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class MlflowReferenceSource:
    """:class:`ReferenceSource` over an MLflow tracking server."""

    def __init__(self, tracking_uri: str) -> None:
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion_version(self, model_name: str) -> tuple[str, str] | None:
        try:
            mv = self._client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
        except MlflowException as exc:
            if exc.error_code in _MISSING:
                return None
            raise ReferenceUnavailableError(f"MLflow champion look-up failed: {exc}") from exc
        return str(mv.version), str(mv.run_id)

    def load(self, model_name: str, version: str, run_id: str | None = None) -> Reference:
        try:
            if run_id is None:
                run_id = str(self._client.get_model_version(model_name, version).run_id)
            with tempfile.TemporaryDirectory(prefix="valora-drift-") as tmp:
                path = self._client.download_artifacts(run_id, PROFILE_FILENAME, tmp)
                profile = ReferenceProfile.model_validate_json(Path(path).read_text("utf-8"))
            metrics = self._client.get_run(run_id).data.metrics
        except (MlflowException, OSError, ValidationError) as exc:
            raise ReferenceUnavailableError(
                f"no usable {PROFILE_FILENAME} for {model_name} v{version} (run {run_id}): {exc}"
            ) from exc
        return Reference(
            model_name=model_name,
            model_version=version,
            run_id=run_id,
            profile=profile,
            test_mae=metrics.get("test_mae"),
            test_mape=metrics.get("test_mape"),
        )


class References:
    """The current champion's reference, plus the references of recently seen versions."""

    def __init__(self, *, source: ReferenceSource, model_name: str, cache_size: int = 8) -> None:
        self._source = source
        self.model_name = model_name
        self.champion: Reference | None = None
        self._cache: OrderedDict[str, Reference] = OrderedDict()
        self._cache_size = cache_size
        self._failed: dict[str, float] = {}
        self.retry_s = 60.0
        self._lock = asyncio.Lock()

    def _remember(self, ref: Reference) -> None:
        self._cache[ref.model_version] = ref
        self._cache.move_to_end(ref.model_version)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def refresh_champion(self) -> Reference | None:
        """Look the champion up again (a failure keeps the current one)."""
        async with self._lock:
            try:
                alias = await asyncio.to_thread(self._source.champion_version, self.model_name)
                if alias is None or (
                    self.champion is not None and self.champion.model_version == alias[0]
                ):
                    return self.champion
                version, run_id = alias
                found = self._cache.get(version)
                if found is None:
                    found = await asyncio.to_thread(
                        self._source.load, self.model_name, version, run_id
                    )
            except ReferenceUnavailableError as exc:
                logger.warning("champion reference unavailable", extra={"error": str(exc)})
                return self.champion
            logger.info(
                "drift reference loaded",
                extra={"model_name": found.model_name, "version": found.model_version},
            )
            self._remember(found)
            self.champion = found
            return self.champion

    async def on_promoted(self, event: ModelPromoted) -> Reference | None:
        """A new champion: load its profile; its metrics come with the event."""
        if event.model_name != self.model_name:
            return self.champion
        await self.refresh_champion()
        champion = self.champion
        if champion is not None and champion.model_version == event.model_version:
            if event.metrics.mae > 0 and event.metrics.mape > 0:
                champion = replace(
                    champion, test_mae=event.metrics.mae, test_mape=event.metrics.mape
                )
            self.champion = champion
            self._remember(champion)
        return self.champion

    async def for_version(self, version: str) -> Reference | None:
        """The reference of ``version`` (cached; ``None`` if it has no usable profile)."""
        if self.champion is not None and self.champion.model_version == version:
            return self.champion
        if version in self._cache:
            return self._cache[version]
        failed_at = self._failed.get(version)
        if failed_at is not None and time.monotonic() - failed_at < self.retry_s:
            return None
        try:
            ref = await asyncio.to_thread(self._source.load, self.model_name, version)
        except ReferenceUnavailableError as exc:
            logger.warning(
                "no reference for version", extra={"version": version, "error": str(exc)}
            )
            self._failed[version] = time.monotonic()
            return None
        self._remember(ref)
        return ref
