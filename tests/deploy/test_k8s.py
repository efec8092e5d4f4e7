"""k8s/: every overlay renders with kustomize, passes kubernetes-validate --strict, keeps the
platform's rules and agrees with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from valora_deploycheck import k8s, k8s_consistency
from valora_deploycheck.expectations import ServiceExpectation
from valora_deploycheck.findings import errors, format_findings
from valora_deploycheck.runner import Paths, secret_template_keys

pytestmark = pytest.mark.deploy


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_overlay_renders_and_passes_strict_schema_validation(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
        "CronJob",
        "Namespace",
    } <= kinds
    found = k8s.validate_schemas(docs, overlay)
    assert not found, format_findings(found)


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_overlay_keeps_the_platform_rules(
    rendered: dict[str, list[dict[str, Any]]], paths: Paths, overlay: str
) -> None:
    found = k8s.check_manifests(
        rendered[overlay], overlay, secret_template_keys(paths.secret_template)
    )
    assert not errors(found), format_findings(found)


@pytest.mark.parametrize("overlay", k8s.OVERLAYS)
def test_overlay_agrees_with_the_code(
    rendered: dict[str, list[dict[str, Any]]], services: list[ServiceExpectation], overlay: str
) -> None:
    found = k8s_consistency.check_k8s_consistency(rendered[overlay], overlay, services)
    assert not errors(found), format_findings(found)


def test_only_dev_carries_a_secret_and_it_is_local_only(
    rendered: dict[str, list[dict[str, Any]]], paths: Paths
) -> None:
    assert not [d for d in rendered["staging"] + rendered["prod"] if d["kind"] == "Secret"]
    template = yaml.safe_load(paths.secret_template.read_text())
    assert all(v == "<set-me>" for v in template["stringData"].values())


def _render_errors(
    k8s_dir: Path, overlay: str, services: list[ServiceExpectation], paths: Paths
) -> list[str]:
    try:
        docs = k8s.render_overlay(k8s_dir / "overlays" / overlay)
    except k8s.KustomizeError as exc:
        return [f"kustomize: {exc}"]
    found = k8s.validate_schemas(docs, overlay)
    found += k8s.check_manifests(docs, overlay, secret_template_keys(paths.secret_template))
    found += k8s_consistency.check_k8s_consistency(docs, overlay, services)
    return [str(f) for f in errors(found)]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("name", "file", "old", "new", "expect"),
    [
        (
            "unknown field (strict)",
            "base/gateway.yaml",
            "        readinessProbe:",
            "        readinesProbe:",
            "strict",
        ),
        (
            "wrong type",
            "base/gateway.yaml",
            "failureThreshold: 36",
            "failureThreshold: many",
            "strict",
        ),
        (
            "missing resource",
            "base/kustomization.yaml",
            "  - gateway.yaml\n",
            "  - gateway.yaml\n  - nothere.yaml\n",
            "kustomize",
        ),
        (
            "wrong container port",
            "base/predictor.yaml",
            "containerPort: 8104",
            "containerPort: 9104",
            "containerPort",
        ),
        (
            "typo in a setting",
            "base/validator.yaml",
            "name: VALORA_VALIDATOR_PORT",
            "name: VALORA_VALIDATR_PORT",
            "not a setting",
        ),
        (
            "privileged container",
            "base/trainer.yaml",
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "allowPrivilegeEscalation",
        ),
        (
            "predictor opened to the world",
            "base/networkpolicies.yaml",
            "      app.kubernetes.io/name: gateway",
            "      app.kubernetes.io/component: service",
            "outside the cluster",
        ),
        (
            "too many consumers",
            "overlays/prod/kustomization.yaml",
            "{name: ingestion, count: 3}",
            "{name: ingestion, count: 12}",
            "partitions",
        ),
        (
            "literal database url",
            "base/trainer.yaml",
            "        - name: VALORA_DATABASE_URL\n          valueFrom:\n            secretKeyRef:\n"
            "              name: valora-secrets\n              key: DATABASE_URL_TRAINER\n"
            "        - name: VALORA_KAFKA_SASL_USERNAME",
            "        - name: VALORA_DATABASE_URL\n"
            "          value: postgresql+asyncpg://u:p@db/valora\n"
            "        - name: VALORA_KAFKA_SASL_USERNAME",
            "must come from",
        ),
        (
            "instance id not from the pod name",
            "base/predictor.yaml",
            "          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name",
            "          value: fixed",
            "downward API",
        ),
        (
            "optional secret",
            "base/gateway.yaml",
            "              key: GATEWAY_API_KEYS_ADMIN\n",
            "              key: GATEWAY_API_KEYS_ADMIN\n              optional: true\n",
            "optional secret",
        ),
        (
            "gateway key not from the Secret",
            "base/gateway.yaml",
            "        - name: VALORA_GATEWAY_API_KEYS_READ\n          valueFrom:\n"
            "            secretKeyRef:\n              name: valora-secrets\n"
            "              key: GATEWAY_API_KEYS_READ\n",
            "",
            "VALORA_GATEWAY_API_KEYS_READ must come from the Secret",
        ),
        (
            "metrics behind the ingress",
            "overlays/prod/gateway-ingress.yaml",
            "          - path: /models\n",
            "          - path: /\n",
            "exposes",
        ),
        (
            "floating image tag",
            "overlays/prod/kustomization.yaml",
            "newName: registry.example.com/valora/gateway, newTag: 0.1.0",
            "newName: registry.example.com/valora/gateway, newTag: latest",
            "tag latest",
        ),
        (
            "production that is not production",
            "overlays/prod/kustomization.yaml",
            "value: production}",
            "value: local}",
            "VALORA_ENVIRONMENT must be production",
        ),
        (
            "fewer reply topics than gateway replicas",
            "overlays/prod/kustomization.yaml",
            'command/4, value: "12"}',
            'command/4, value: "6"}',
            "reply topics for 6 gateway replicas, the HPA allows 12",
        ),
        (
            "unknown CLI command",
            "base/cronjob-retraining.yaml",
            "- train\n",
            "- retrain\n",
            "not a command",
        ),
    ],
)
def test_a_broken_manifest_is_reported(
    k8s_copy: Path,
    services: list[ServiceExpectation],
    paths: Paths,
    name: str,
    file: str,
    old: str,
    new: str,
    expect: str,
) -> None:
    _edit(k8s_copy / file, old, new)
    overlay = "prod" if "prod" in file else "staging"
    problems = _render_errors(k8s_copy, overlay, services, paths)
    assert any(expect in p for p in problems), f"{name}: {problems}"


def test_a_real_secret_in_an_overlay_is_reported(
    k8s_copy: Path, services: list[ServiceExpectation], paths: Paths
) -> None:
    _edit(
        k8s_copy / "overlays/dev/kustomization.yaml",
        "valora:valora-local-only@",
        "valora:Pr0dPassw0rd@",
    )
    problems = _render_errors(k8s_copy, "dev", services, paths)
    assert any("real-looking secret" in p for p in problems), problems
