"""The MLflow side of a run: tracking, artifacts, model registration, the ``champion`` and
``challenger`` aliases.

:class:`Registry` is what the run needs (:mod:`valora_trainer.service_layer.run`);
:class:`MlflowRegistry` implements it over the MLflow tracking server (HTTP). Unit tests pass
a fake.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from valora_ml.integrity import MODEL_SHA256_TAG, artifact_sha256, verify_artifact
from valora_ml.pricemodel import CHALLENGER_ALIAS, CHAMPION_ALIAS, PROFILE_ARTIFACT, PriceModel
from valora_ml.registry_ref import ModelRef

from valora_trainer.domain.estimators import Predict
from valora_trainer.errors import TransientTrainingError

__all__ = ["MlflowRegistry", "Registry", "pip_requirements"]

logger = logging.getLogger(__name__)
_METRICS_PER_BATCH = 1000


class Registry(Protocol):
    """Tracking (runs, params, metrics, tags, artifacts) and the model registry."""

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str]) -> str: ...
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...
    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> None: ...
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...
    def log_artifacts(self, run_id: str, local_dir: Path) -> None: ...
    def end_run(self, run_id: str, status: str) -> None: ...
    def register_model(
        self,
        *,
        run_id: str,
        model_name: str,
        model: PriceModel,
        example: pd.DataFrame,
        metadata: Mapping[str, Any],
        profile_path: Path,
    ) -> str: ...
    def champion(self, model_name: str) -> ModelRef | None: ...
    def model_sha256(self, model_name: str, version: str) -> str | None: ...
    def load_predictor(self, model_name: str, version: str) -> Predict: ...
    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None: ...
    def set_champion(self, model_name: str, version: str) -> None: ...
    def challenger(self, model_name: str) -> ModelRef | None: ...
    def set_challenger(self, model_name: str, version: str | None) -> None:
        """Alias ``version`` ``challenger`` (``None``: remove the alias)."""
        ...

    def run_metrics(self, run_id: str) -> dict[str, float]: ...
    def run_tags(self, run_id: str) -> dict[str, str]: ...
    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path: ...


def pip_requirements() -> list[str]:
    """Pinned requirements of the logged model (explicit: no slow inference by MLflow)."""
    from importlib.metadata import version

    names = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle", "pydantic")
    return [f"{name}=={version(name)}" for name in names]


class MlflowRegistry:
    """:class:`Registry` over an MLflow tracking server."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _wrap(self, what: str, exc: Exception) -> TransientTrainingError:
        return TransientTrainingError(f"MLflow {what} failed: {exc}")

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
        try:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id if found else self.client.create_experiment(experiment)
            )
            run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        except MlflowException as exc:
            raise self._wrap("start_run", exc) from exc
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            self.client.log_param(run_id, key, str(value)[:6000])

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None
    ) -> None:
        # one request per 1,000 metrics (coverage per neighbourhood can be many)
        stamp, items = int(time.time() * 1000), list(metrics.items())
        for start in range(0, len(items), _METRICS_PER_BATCH):
            batch = [
                Metric(key, float(value), stamp, step or 0)
                for key, value in items[start : start + _METRICS_PER_BATCH]
            ]
            self.client.log_batch(run_id, metrics=batch)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def log_artifacts(self, run_id: str, local_dir: Path) -> None:
        self.client.log_artifacts(run_id, str(local_dir))

    def end_run(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status=status)

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
        signature = infer_signature(
            example,
            model.predict_price(example),
            params={"interval": False, "warnings": False, "expected_error": False},
        )
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        # the fluent API refuses to resume a run of another experiment than the process's active
        # one (any earlier set_experiment in this process): make the run's own active first
        mlflow.set_experiment(experiment_id=self.client.get_run(run_id).info.experiment_id)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                artifacts={PROFILE_ARTIFACT: str(profile_path)},
                signature=signature,
                input_example=example,
                registered_model_name=model_name,
                metadata=dict(metadata),
                pip_requirements=pip_requirements(),
            )
        version = info.registered_model_version
        if version is None:
            raise TransientTrainingError("MLflow registered no model version")
        with tempfile.TemporaryDirectory(prefix="valora-digest-") as tmp:
            digest = artifact_sha256(self._download(model_name, str(version), Path(tmp)))
        self.client.set_model_version_tag(model_name, str(version), MODEL_SHA256_TAG, digest)
        return str(version)

    def _download(self, model_name: str, version: str, dst: Path) -> Path:
        from mlflow.artifacts import download_artifacts

        uri = f"models:/{model_name}/{version}"
        return Path(
            download_artifacts(
                artifact_uri=uri,
                dst_path=str(dst),
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
        )

    def model_sha256(self, model_name: str, version: str) -> str | None:
        """The recorded digest of a version (its :data:`MODEL_SHA256_TAG`), if any."""
        tags = self.client.get_model_version(model_name, version).tags or {}
        return tags.get(MODEL_SHA256_TAG)

    def champion(self, model_name: str) -> ModelRef | None:
        return self._alias(model_name, CHAMPION_ALIAS)

    def challenger(self, model_name: str) -> ModelRef | None:
        return self._alias(model_name, CHALLENGER_ALIAS)

    def _alias(self, model_name: str, alias: str) -> ModelRef | None:
        try:
            mv = self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise self._wrap(f"{alias} look-up", exc) from exc
        return _ref(model_name, mv)

    def set_challenger(self, model_name: str, version: str | None) -> None:
        if version is not None:
            self.client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version)
            return
        try:
            self.client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise self._wrap("challenger removal", exc) from exc

    def load_predictor(self, model_name: str, version: str) -> Predict:
        """Download, verify against the recorded digest, then load (:class:`ModelIntegrityError`
        before anything is unpickled when the artifact changed)."""
        expected = self.model_sha256(model_name, version)
        with tempfile.TemporaryDirectory(prefix="valora-model-") as tmp:
            path = self._download(model_name, version, Path(tmp))
            verify_artifact(path, expected=expected, what=f"{model_name} v{version}")
            loaded = mlflow.pyfunc.load_model(str(path))
        try:
            inner = loaded.unwrap_python_model()
        except Exception:  # not a python-function model
            inner = None
        if isinstance(inner, PriceModel):
            return inner.predict_price  # reads the date column of a market-time model

        def predict(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
            return np.asarray(loaded.predict(frame), dtype=float)

        return predict

    def set_version_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, version, key, value)

    def set_champion(self, model_name: str, version: str) -> None:
        self.client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> Path:
        return Path(self.client.download_artifacts(run_id, path, str(dst)))


def _ref(model_name: str, mv: Any) -> ModelRef:
    return ModelRef(
        name=model_name, version=str(mv.version), run_id=str(mv.run_id), tags=dict(mv.tags or {})
    )
