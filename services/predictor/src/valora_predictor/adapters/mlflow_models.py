"""Loads registered versions from MLflow: ``models:/<name>@champion`` (or ``@challenger``)
resolved, the artifact downloaded and verified against its SHA-256 before anything is
deserialised."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from valora_ml.integrity import MODEL_SHA256_TAG, ModelIntegrityError, verify_artifact
from valora_ml.pricemodel import PriceModel, interval_from_metadata
from valora_ml.registry_ref import ModelRef

from valora_predictor.domain.model import ModelHandle, PyfuncModelHandle, _known_neighbourhoods
from valora_predictor.errors import ModelLoadError

__all__ = ["MlflowModelLoader"]

logger = logging.getLogger(__name__)


class MlflowModelLoader:
    """Loads registered versions from an MLflow tracking server over HTTP, each verified
    against its SHA-256 before it is deserialised (``require_digest=False``, local only:
    a version without a recorded digest is loaded with a warning)."""

    def __init__(self, *, tracking_uri: str, require_digest: bool = True) -> None:
        from mlflow.tracking import MlflowClient

        self._require_digest = require_digest
        self._tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve_alias(self, name: str, alias: str) -> ModelRef | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise ModelLoadError(f"cannot resolve {name}@{alias}: {exc}") from exc
        return ModelRef(
            name=name, version=str(mv.version), run_id=str(mv.run_id or ""), tags=mv.tags or {}
        )

    def _verify(self, path: Path, ref: ModelRef, expected: str | None) -> None:
        expected = expected or ref.tags.get(MODEL_SHA256_TAG)
        if expected is None and not self._require_digest:
            logger.warning("model has no recorded digest: loaded unverified (local only)")
            return
        verify_artifact(path, expected=expected, what=f"{ref.name} v{ref.version}")

    def load(self, ref: ModelRef, *, expected_sha256: str | None = None) -> ModelHandle:
        import mlflow.pyfunc
        from mlflow.artifacts import download_artifacts

        uri = f"models:/{ref.name}/{ref.version}"
        try:
            with tempfile.TemporaryDirectory(prefix="valora-model-") as tmp:
                path = download_artifacts(
                    artifact_uri=uri,
                    dst_path=tmp,
                    tracking_uri=self._tracking_uri,
                    registry_uri=self._tracking_uri,
                )
                self._verify(Path(path), ref, expected_sha256)
                pyfunc = mlflow.pyfunc.load_model(path)
                interval = interval_from_metadata(pyfunc.metadata.metadata)
                try:
                    python_model = pyfunc.unwrap_python_model()
                except Exception:
                    python_model = None
                price_model = python_model if isinstance(python_model, PriceModel) else None
                handle = PyfuncModelHandle(
                    ref=ref,
                    pyfunc=pyfunc,
                    half_width=interval.half_width,
                    level=interval.level,
                    known_neighbourhoods=_known_neighbourhoods(price_model),
                )
        except (ModelLoadError, ModelIntegrityError):
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load {uri}: {exc}") from exc
        logger.info(
            "model loaded",
            extra={"model_name": ref.name, "model_version": ref.version, "run_id": ref.run_id},
        )
        return handle
