"""Model artifacts are verified before anything deserialises them.

A registered model is a directory of files (``MLmodel``, the pickled python model, its
artifacts); unpickling runs code, so whoever can change those bytes can run code in the
predictor. The trainer records :func:`artifact_sha256` of the registered version as the
model-version tag :data:`MODEL_SHA256_TAG` and in ``models.promoted.v1``; the predictor and the
trainer download a version, compute the digest of the downloaded directory and refuse it
(:class:`ModelIntegrityError`) unless it equals the recorded one, before loading it.

The digest covers every file: its path relative to the model directory, its size and its
bytes, in path order (renaming, adding or removing a file changes it too).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

from valora_contracts import DriftAlert, DriftWindow

from valora_ml.errors import MlError

__all__ = [
    "MODEL_SHA256_TAG",
    "ModelIntegrityError",
    "artifact_sha256",
    "integrity_alert",
    "verify_artifact",
]

MODEL_SHA256_TAG = "valora.model_sha256"
"""Model-version tag holding the SHA-256 of the registered model directory."""
_CHUNK = 1024 * 1024


class ModelIntegrityError(MlError):
    """A model artifact whose digest is missing or differs from the recorded one."""

    def __init__(self, message: str, *, expected: str | None, actual: str | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


def artifact_sha256(directory: Path) -> str:
    """SHA-256 (hex) over every file under ``directory``: relative path, size, bytes."""
    if not directory.is_dir():
        raise ModelIntegrityError(f"{directory} is not a directory", expected=None, actual=None)
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(directory).as_posix().encode()
        digest.update(len(relative).to_bytes(8, "big") + relative)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def verify_artifact(directory: Path, *, expected: str | None, what: str) -> str:
    """The digest of ``directory`` if it equals ``expected``; else :class:`ModelIntegrityError`
    (also when nothing is expected: an unrecorded digest cannot be trusted)."""
    actual = artifact_sha256(directory)
    if expected is None:
        raise ModelIntegrityError(
            f"{what} has no recorded SHA-256 ({MODEL_SHA256_TAG}): refusing to load it",
            expected=None,
            actual=actual,
        )
    if not hmac.compare_digest(actual, expected.lower()):
        raise ModelIntegrityError(
            f"{what}: artifact SHA-256 {actual} differs from the recorded {expected}: the "
            "artifact changed after registration; refusing to load it",
            expected=expected,
            actual=actual,
        )
    return actual


def integrity_alert(
    *, model_name: str, model_version: str, error: ModelIntegrityError, service: str
) -> DriftAlert:
    """The on-call alert (``drift.alerts.v1``, kind ``integrity``) for a refused artifact."""
    now = datetime.now(UTC)
    return DriftAlert(
        kind="integrity",
        feature="model_artifact",
        statistic="sha256",
        value=1.0,
        threshold=0.0,
        severity="critical",
        window=DriftWindow(start=now, end=now, size=1),
        model_name=model_name,
        model_version=model_version,
        dedupe_key=f"integrity:{service}:{model_name}:{model_version}",
        state="firing",
    )
