"""The Kubeflow pipeline compiles, its committed YAML is current, and every step runs
the trainer image's own step CLI (``python -m valora_trainer <step>``; the steps are the
commands ``python -m valora_trainer describe`` lists)."""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import yaml

from valora_deploycheck.described import describe_module
from valora_deploycheck.findings import Finding

__all__ = ["check_pipeline", "compile_pipeline", "trainer_steps"]


def compile_pipeline(source: Path, output: Path, image: str | None = None) -> Path:
    """Compile ``source`` (kubeflow/pipeline.py) to ``output``, in a fresh module namespace."""
    old = os.environ.get("KFP_TRAINER_IMAGE")
    try:
        if image:
            os.environ["KFP_TRAINER_IMAGE"] = image
        else:
            os.environ.pop("KFP_TRAINER_IMAGE", None)
        namespace = runpy.run_path(str(source), run_name="valora_kfp_pipeline")
        namespace["compile_pipeline"](output)
    finally:
        if old is None:
            os.environ.pop("KFP_TRAINER_IMAGE", None)
        else:
            os.environ["KFP_TRAINER_IMAGE"] = old
    return output


def trainer_steps() -> tuple[str, ...]:
    """The trainer entry point's commands other than ``serve`` and ``describe``."""
    commands = describe_module("valora_trainer").get("commands", [])
    return tuple(str(c) for c in commands if c not in ("serve", "describe"))


def check_pipeline(compiled: Path, committed: Path | None = None) -> list[Finding]:
    where = compiled.name
    docs = [d for d in yaml.safe_load_all(compiled.read_text()) if d]
    spec: dict[str, Any] = docs[0]
    out: list[Finding] = []
    if committed is not None:
        if not committed.is_file():
            out.append(Finding("error", str(committed), "missing: run make kfp-compile"))
        elif committed.read_text() != compiled.read_text():
            out.append(Finding("error", str(committed), "out of date: run make kfp-compile"))
    executors = ((spec.get("deploymentSpec") or {}).get("executors")) or {}
    steps = set(trainer_steps())
    used: set[str] = set()
    for name, executor in executors.items():
        ctr = executor.get("container") or {}
        argv = [str(a) for a in (ctr.get("command") or []) + (ctr.get("args") or [])]
        if "/trainer" not in str(ctr.get("image", "")):
            out.append(
                Finding(
                    "error", f"{where}:{name}", f"image {ctr.get('image')} is not the trainer's"
                )
            )
        step = None
        if argv[:3] == ["python", "-m", "valora_trainer"] and len(argv) > 3:
            step = argv[3]
        elif argv[:2] == ["sh", "-c"] and "python -m valora_trainer" in argv[2]:
            step = next((a for a in argv[4:] if a in steps or not a.startswith(("{", "-"))), None)
            step = next((a for a in argv if a in steps), step)
        if step is None or step not in steps:
            out.append(
                Finding("error", f"{where}:{name}", f"does not run a trainer step CLI ({argv[:4]})")
            )
        else:
            used.add(step)
    for missing in sorted(steps - used):
        out.append(Finding("error", where, f"trainer step {missing} is not in the pipeline"))
    platform = [d for d in docs[1:] if "platforms" in d]
    if not platform:
        out.append(Finding("error", where, "no Kubernetes platform spec (ConfigMap/Secret env)"))
    return out
