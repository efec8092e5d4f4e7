"""Fixtures of the offline deployment checks (compose, kustomize overlays, Kubeflow pipeline)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from valora_deploycheck import k8s
from valora_deploycheck.expectations import ServiceExpectation, discover_services
from valora_deploycheck.runner import Paths


@pytest.fixture(scope="session")
def paths() -> Paths:
    return Paths()


@pytest.fixture(scope="session")
def services(paths: Paths) -> list[ServiceExpectation]:
    return discover_services(paths.root)


@pytest.fixture(scope="session")
def rendered(paths: Paths) -> dict[str, list[dict[str, Any]]]:
    return {o: k8s.render_overlay(paths.k8s / "overlays" / o) for o in k8s.OVERLAYS}


@pytest.fixture
def k8s_copy(paths: Paths, tmp_path: Path) -> Path:
    """A mutable copy of k8s/ for tests that break it on purpose."""
    target = tmp_path / "k8s"
    shutil.copytree(paths.k8s, target)
    return target
