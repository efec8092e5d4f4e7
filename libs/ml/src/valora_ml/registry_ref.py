"""A reference to one registered model version in the MLflow registry.

Shared by the trainer (the champion it gates against and promotes) and the predictor (the
champion it serves), so both speak of a version the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ModelRef"]


@dataclass(frozen=True)
class ModelRef:
    """A registered model version: ``models:/<name>/<version>``, logged by MLflow run ``run_id``.

    Two references are equal when name, version and run agree; ``tags`` (the version's tags
    when it was looked up) take no part in equality or hashing.
    """

    name: str
    version: str
    run_id: str
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
