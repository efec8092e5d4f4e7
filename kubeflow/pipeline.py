"""Valora's heavy-retraining pipeline for Kubeflow Pipelines (KFP v2).

Every step is a container component running the **trainer image's own step CLI**
(``python -m valora_trainer <step>``, see
``services/trainer/src/valora_trainer/entrypoints/step_cli.py``); no training logic lives here.
Steps exchange only the MLflow run id: data and state live in PostgreSQL (training store, the
shared Optuna study) and MLflow (run, snapshot, registry)::

    snapshot ──► search-worker x N (parallel, one shared Optuna study in PostgreSQL)
             ──► evaluate-gate ──► promote (only when the gate passed)

Compile (``make kfp-compile``)::

    uv run python kubeflow/pipeline.py --output kubeflow/pipeline.yaml \
        [--trainer-image registry.example.com/valora/trainer:0.1.0]

Pods read the platform's configuration from the ConfigMap ``valora-config`` and the database URL
from the Secret ``valora-secrets`` of the namespace the pipeline runs in (see k8s/).
"""

# No `from __future__ import annotations`: KFP reads the component signatures at runtime.

import argparse
import os
import runpy
from pathlib import Path

from kfp import compiler, dsl, kubernetes

__all__ = ["DEFAULT_TRAINER_IMAGE", "build_pipeline", "compile_pipeline"]

DEFAULT_TRAINER_IMAGE = "valora/trainer:dev"
TRAINER_IMAGE = os.environ.get("KFP_TRAINER_IMAGE", DEFAULT_TRAINER_IMAGE)
CONFIG_MAP = "valora-config"
# The Secret's name and the env names its keys become: names, not values (ruff S105, B105).
SECRET = "valora-secrets"  # noqa: S105  # nosec B105
CONFIG_KEYS = (
    "VALORA_ENVIRONMENT",
    "VALORA_LOG_LEVEL",
    "VALORA_LOG_JSON",
    "VALORA_MODEL_NAME",
    "VALORA_KAFKA_BOOTSTRAP_SERVERS",
    "VALORA_KAFKA_SECURITY_PROTOCOL",
    "VALORA_KAFKA_SASL_MECHANISM",
    "VALORA_KAFKA_SSL_CAFILE",
    "VALORA_DATABASE_SSLMODE",
    "VALORA_MLFLOW_TRACKING_URI",
)
# The steps run as the trainer: its database role, Kafka principal and MLflow user.
SECRET_KEYS = {
    "DATABASE_URL_TRAINER": "VALORA_DATABASE_URL",
    "KAFKA_PASSWORD_TRAINER": "VALORA_KAFKA_SASL_PASSWORD",  # nosec B105
    "MLFLOW_PASSWORD_TRAINER": "VALORA_MLFLOW_PASSWORD",  # nosec B105
}
IDENTITY = {"VALORA_KAFKA_SASL_USERNAME": "trainer", "VALORA_MLFLOW_USERNAME": "trainer"}
KAFKA_CA = "valora-kafka-ca"

# The step CLI prints one JSON object on stdout (logs go to stderr). This wrapper runs the step
# and writes one field of that object to a KFP output file: plumbing, not training logic.
_RUN_STEP = r"""
set -eu
out_field="$1"; out_path="$2"; shift 2
python -m valora_trainer "$@" > /tmp/step-result.txt
cat /tmp/step-result.txt
mkdir -p "$(dirname "$out_path")"
python - "$out_field" "$out_path" <<'PY'
import json, sys
field, path = sys.argv[1], sys.argv[2]
lines = [line for line in open("/tmp/step-result.txt") if line.lstrip().startswith("{")]
result = json.loads(lines[-1])
value = result
for part in field.split("."):
    value = value[part]
with open(path, "w") as f:
    f.write(json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value))
PY
"""


@dsl.container_component
def snapshot(model_name: str, run_id: dsl.OutputPath(str)):  # type: ignore[valid-type]
    """Snapshot the labelled training store into a new MLflow run."""
    return dsl.ContainerSpec(
        image=TRAINER_IMAGE,
        command=["sh", "-c", _RUN_STEP, "run-step"],
        args=["run_id", run_id, "snapshot", "--model", model_name],
    )


@dsl.container_component
def search_worker(run_id: str, trials: int):
    """Join the run's Optuna study (PostgreSQL storage) until it holds ``trials`` trials."""
    return dsl.ContainerSpec(
        image=TRAINER_IMAGE,
        command=["python", "-m", "valora_trainer", "search-worker"],
        args=["--run-id", run_id, "--trials", trials],
    )


@dsl.container_component
def evaluate_gate(run_id: str, gate_passed: dsl.OutputPath(str)):  # type: ignore[valid-type]
    """Fit the best trial, evaluate, register, and gate against the current champion."""
    return dsl.ContainerSpec(
        image=TRAINER_IMAGE,
        command=["sh", "-c", _RUN_STEP, "run-step"],
        args=["gate.passed", gate_passed, "evaluate-gate", "--run-id", run_id],
    )


@dsl.container_component
def promote(run_id: str):
    """Alias the registered version 'champion' and announce it on models.promoted.v1."""
    return dsl.ContainerSpec(
        image=TRAINER_IMAGE,
        command=["python", "-m", "valora_trainer", "promote"],
        args=["--run-id", run_id],
    )


def _platform(task: dsl.PipelineTask, *, cpu: str, memory: str) -> dsl.PipelineTask:
    """Configuration, credentials, resources; never cached (every run reads fresh data)."""
    kubernetes.use_config_map_as_env(
        task, config_map_name=CONFIG_MAP, config_map_key_to_env={k: k for k in CONFIG_KEYS}
    )
    kubernetes.use_secret_as_env(task, secret_name=SECRET, secret_key_to_env=dict(SECRET_KEYS))
    kubernetes.use_secret_as_volume(task, secret_name=KAFKA_CA, mount_path="/etc/valora/kafka-ca")
    for name, value in IDENTITY.items():
        task.set_env_variable(name, value)
    kubernetes.set_image_pull_policy(task, "IfNotPresent")
    task.set_caching_options(False)
    task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory)
    return task


@dsl.pipeline(
    name="valora-retraining",
    description="Snapshot -> parallel Optuna workers on one PostgreSQL study -> evaluate and "
    "gate -> promote, with the trainer image's own step CLI.",
)
def build_pipeline(
    model_name: str = "valora-price",
    trials: int = 60,
    workers: list = [0, 1, 2, 3],  # noqa: B006 - KFP needs a literal default; one item per worker
) -> None:
    snap = _platform(snapshot(model_name=model_name), cpu="500m", memory="2Gi")
    snap.set_display_name("snapshot")
    with dsl.ParallelFor(items=workers, name="search-workers") as _worker:
        search = _platform(
            search_worker(run_id=snap.outputs["run_id"], trials=trials), cpu="1", memory="3Gi"
        )
        search.set_display_name("search-worker")
        search.set_retry(num_retries=2)
    evaluation = _platform(
        evaluate_gate(run_id=snap.outputs["run_id"]), cpu="1", memory="4Gi"
    ).after(search)
    evaluation.set_display_name("evaluate-gate")
    with dsl.If(evaluation.outputs["gate_passed"] == "true", name="gate-passed"):
        promotion = _platform(promote(run_id=snap.outputs["run_id"]), cpu="250m", memory="1Gi")
        promotion.set_display_name("promote")


def compile_pipeline(output: Path) -> Path:
    """Compile the pipeline to KFP v2 IR YAML at ``output``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=build_pipeline, package_path=str(output))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile Valora's KFP v2 retraining pipeline.")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("pipeline.yaml"))
    parser.add_argument(
        "--trainer-image",
        help=f"trainer image (default: $KFP_TRAINER_IMAGE or {DEFAULT_TRAINER_IMAGE})",
    )
    args = parser.parse_args(argv)
    if args.trainer_image:
        # Components capture the image when they are defined: run this file again with it set.
        os.environ["KFP_TRAINER_IMAGE"] = args.trainer_image
        runpy.run_path(__file__, run_name="valora_kfp_pipeline")["compile_pipeline"](args.output)
    else:
        compile_pipeline(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
