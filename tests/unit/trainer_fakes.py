"""Fakes of the trainer's Protocols (a registry in memory, a publisher) and small data, shared
by the trainer's unit tests. The fakes satisfy :class:`valora_trainer.adapters.registry.Registry`
and :class:`valora_trainer.adapters.publisher.Publisher`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from valora_contracts import MODELS_PROMOTED, ModelPromoted
from valora_messaging import OutgoingRecord
from valora_ml.integrity import MODEL_SHA256_TAG
from valora_ml.pricemodel import PriceModel
from valora_ml.registry_ref import ModelRef
from valora_ml.synthetic import generate_listings
from valora_trainer.config import TrainingConfig, load_config
from valora_trainer.service_layer.promotion import ANNOUNCED_TAG


def store_frame(n: int, *, timed: bool = False, seed: int = 0) -> pd.DataFrame:
    frame = generate_listings(n, seed=seed)
    frame.insert(0, "listing_id", [f"l{i:04d}" for i in range(n)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    frame["listed_at"] = [start + timedelta(hours=i) for i in range(n)] if timed else pd.NaT
    frame["source"] = "unit"
    return frame


class FakeRegistry:
    """In-memory stand-in for MLflow: runs, versions, aliases; ``log`` records the effects that
    must happen in order (register, alias, announced tag)."""

    def __init__(self, log: list[str], champion_predict: Any = None) -> None:
        self.log = log
        self.runs: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.alias: str | None = None
        self.challenger_alias: str | None = None
        self.champion_predict = champion_predict
        if champion_predict is not None:
            self.versions["1"] = {"run_id": "r0", "tags": {}}
            self.alias = "1"

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        run_id = f"r{len(self.runs) + 1}"
        self.runs[run_id] = {"params": {}, "metrics": {}, "tags": dict(tags), "artifacts": []}
        return run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.runs[run_id]["params"].update(params)

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> None:
        self.runs[run_id]["metrics"].update(metrics)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.runs[run_id]["tags"].update(tags)

    def log_artifacts(self, run_id: str, local_dir: Path) -> None:
        files = {str(p.relative_to(local_dir)): p for p in local_dir.rglob("*") if p.is_file()}
        self.runs[run_id]["artifacts"] = sorted([*self.runs[run_id]["artifacts"], *files])
        stored = self.runs[run_id].setdefault("files", {})
        stored.update({name: path.read_bytes() for name, path in files.items()})

    def end_run(self, run_id: str, status: str) -> None:
        self.runs[run_id]["status"] = status

    def register_model(
        self,
        *,
        run_id: str,
        model_name: str,
        model: PriceModel,
        example: pd.DataFrame,
        metadata: Mapping[str, Any],
        profile_path: Path,
    ) -> str:
        version = str(len(self.versions) + 1)
        self.versions[version] = {
            "run_id": run_id,
            "tags": {},
            "model": model,
            "metadata": metadata,
            "example": example,
            "profile": profile_path.read_text(encoding="utf-8"),
        }
        self.log.append(f"register {version}")
        return version

    def champion(self, model_name: str) -> ModelRef | None:
        if self.alias is None:
            return None
        v = self.versions[self.alias]
        return ModelRef(name=model_name, version=self.alias, run_id=v["run_id"], tags=v["tags"])

    def model_sha256(self, model_name: str, version: str) -> str | None:
        tags: dict[str, str] = self.versions[version]["tags"]
        return tags.get(MODEL_SHA256_TAG)

    def load_predictor(self, model_name: str, version: str) -> Any:
        if version == "1" and self.champion_predict is not None:
            return self.champion_predict
        return self.versions[version]["model"].predict_price

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        self.versions[version]["tags"].update(tags)
        if ANNOUNCED_TAG in tags:
            self.log.append(f"announced {version}")

    def set_champion(self, model_name: str, version: str) -> None:
        self.log.append(f"alias {version}")
        self.alias = version

    def challenger(self, model_name: str) -> ModelRef | None:
        if self.challenger_alias is None:
            return None
        v = self.versions[self.challenger_alias]
        return ModelRef(
            name=model_name, version=self.challenger_alias, run_id=v["run_id"], tags=v["tags"]
        )

    def set_challenger(self, model_name: str, version: str | None) -> None:
        self.log.append(f"challenger {version}")
        self.challenger_alias = version

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.runs[run_id]["metrics"])

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.runs[run_id]["tags"])

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path:
        data = self.runs.get(run_id, {}).get("files", {}).get(path)
        if data is None:
            raise FileNotFoundError(f"{run_id}: {path}")
        out = dst / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return out


class FakePublisher:
    def __init__(self, log: list[str], *, fail: bool = False) -> None:
        self.log = log
        self.fail = fail
        self.records: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.records.extend(records)
        self.log.extend(f"publish {r.topic}" for r in records)

    def promoted(self) -> list[ModelPromoted]:
        return [
            ModelPromoted.model_validate_json(r.value)
            for r in self.records
            if r.topic == MODELS_PROMOTED.name
        ]


def small_config(**gate: Any) -> TrainingConfig:
    """Two trials, three folds; the per-third coverage check off (27 test rows a third are too
    few to judge it) unless ``gate`` sets it."""
    gate = {"min_r2": 0.5, "max_mape": 0.5, "min_coverage": 0.5, "third_coverage": None, **gate}
    return load_config(
        overrides={
            "search": {
                "trials": 2,
                "cv_folds": 2,
                "families": {
                    "random_forest": {
                        "n_estimators": {"type": "int", "low": 20, "high": 20, "step": 1}
                    },
                    "hist_gradient_boosting": {
                        "max_iter": {"type": "int", "low": 50, "high": 50, "step": 1}
                    },
                },
            },
            "triggers": {"min_rows": 50},
            "interval": {"folds": 3},
            "gate": gate,
        }
    )
