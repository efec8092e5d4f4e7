"""The champion model as the registry describes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["ChampionInfo"]


@dataclass(frozen=True)
class ChampionInfo:
    model_name: str
    model_version: str
    run_id: str
    created_at_ms: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def created_at(self) -> datetime | None:
        if not self.created_at_ms:
            return None
        return datetime.fromtimestamp(self.created_at_ms / 1000, tz=UTC)
