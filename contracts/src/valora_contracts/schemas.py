"""JSON Schema export of every event type (pinned by a test)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from valora_contracts.topics import ALL_TOPICS

__all__ = ["event_types", "export_schemas", "render_schemas"]


def event_types() -> dict[str, type[BaseModel]]:
    """Every event type used on a topic (including replies), by class name."""
    from valora_contracts.prediction import PredictionReply

    types: dict[str, type[BaseModel]] = {t.event.__name__: t.event for t in ALL_TOPICS}
    types[PredictionReply.__name__] = PredictionReply
    return dict(sorted(types.items()))


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of each event's validation schema."""
    return {
        f"{name}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in event_types().items()
    }


def export_schemas(directory: Path) -> list[Path]:
    """Write every schema under ``directory``; remove stale ones. Returns the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for stale in directory.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for file_name, text in rendered.items():
        path = directory / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
