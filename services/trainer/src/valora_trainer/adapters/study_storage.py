"""Optuna's study storage in PostgreSQL: trials of one run are shared by every worker (the
service's thread, or many Kubeflow ``search-worker`` pods).

The study tables live in their own schema (Optuna runs its own Alembic, whose
``alembic_version`` table would clash with Valora's in the default schema).
"""

from __future__ import annotations

import threading

import optuna

__all__ = ["StudyStorage", "load_study", "optuna_storage", "study_name"]


def study_name(model_name: str, run_id: str) -> str:
    """The study of one training run."""
    return f"{model_name}/{run_id}"


def optuna_storage(url: str, *, schema: str = "optuna") -> optuna.storages.RDBStorage:
    """RDB storage in PostgreSQL (``postgresql+psycopg://``), its tables in ``schema``."""
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs={
            "pool_pre_ping": True,
            "connect_args": {"options": f"-csearch_path={schema}"},
        },
    )


class StudyStorage:
    """The process's one RDB storage (one engine), built on first use: calling it returns it."""

    def __init__(self, url: str, *, schema: str) -> None:
        self._url = url
        self._schema = schema
        self._storage: optuna.storages.RDBStorage | None = None
        self._lock = threading.Lock()

    def __call__(self) -> optuna.storages.RDBStorage:
        with self._lock:
            if self._storage is None:
                self._storage = optuna_storage(self._url, schema=self._schema)
            return self._storage


def load_study(
    *, model_name: str, run_id: str, storage: optuna.storages.BaseStorage
) -> optuna.Study:
    """The study a run's search workers filled."""
    return optuna.load_study(study_name=study_name(model_name, run_id), storage=storage)
