"""compose/docker-compose.yml: schema, structure, and agreement with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from valora_deploycheck import compose, consistency
from valora_deploycheck.expectations import ServiceExpectation
from valora_deploycheck.findings import errors, format_findings
from valora_deploycheck.runner import Paths

pytestmark = pytest.mark.deploy

MIGRATE_DEP = "      db-migrate: {condition: service_completed_successfully}\n"
TRAINER_DEPS = (
    MIGRATE_DEP + "      mlflow: {condition: service_healthy}\n"
    "      kafka-acls: {condition: service_completed_successfully}\n"
    "      mlflow-users: {condition: service_completed_successfully}\n    environment:\n"
    "      <<: [*kafka-env, *mlflow-env]\n      VALORA_KAFKA_SASL_USERNAME: trainer"
)


def _check(path: Path, env: Path, services: list[ServiceExpectation]) -> list[str]:
    found = compose.check_compose(path, env)
    if not errors(found):
        found += consistency.check_compose_consistency(compose.load_compose(path, env), services)
    return [str(f) for f in errors(found)]


def test_compose_file_is_valid_against_the_compose_spec(paths: Paths) -> None:
    found = compose.check_compose(paths.compose, paths.env_example)
    assert not errors(found), format_findings(found)


def test_compose_agrees_with_the_code(paths: Paths, services: list[ServiceExpectation]) -> None:
    project = compose.load_compose(paths.compose, paths.env_example)
    found = consistency.check_compose_consistency(project, services)
    assert not errors(found), format_findings(found)


def test_every_workspace_service_is_in_compose(
    paths: Paths, services: list[ServiceExpectation]
) -> None:
    project = compose.load_compose(paths.compose, paths.env_example)
    dirs = {
        p.name.replace("_", "-")
        for p in (paths.root / "services").iterdir()
        if (p / "pyproject.toml").is_file()
    }
    assert dirs == {s.name for s in services}
    assert dirs <= set(project.services)


def test_interpolation_follows_compose_rules() -> None:
    acc = compose.Interpolation(set(), [])
    env = {"A": "1", "EMPTY": ""}
    got = compose.interpolate(
        ["${A}", "${B:-d}", "${EMPTY:-d}", "${EMPTY-d}", "$$x", "${A:+alt}", "${B:?need B}", "$A"],
        env,
        acc,
    )
    assert got == ["1", "d", "d", "", "$x", "alt", "", "1"]
    assert acc.required_missing == ["B (need B)"]


def _mutate(paths: Paths, tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    text = paths.compose.read_text()
    new = edit(text)
    assert new != text, "mutation did not apply"
    target = tmp_path / "docker-compose.yml"
    target.write_text(new)
    return target


@pytest.mark.parametrize(
    ("name", "edit", "expect"),
    [
        (
            "unknown service key",
            lambda t: t.replace("    restart: unless-stopped\n", "    restart_policy: always\n", 1),
            "schema",
        ),
        (
            "bad port type",
            lambda t: t.replace('expose: ["8101"]', "expose: {port: 8101}"),
            "schema",
        ),
        (
            "wrong port",
            lambda t: t.replace('VALORA_VALIDATOR_PORT: "8102"', 'VALORA_VALIDATOR_PORT: "9102"'),
            "VALORA_VALIDATOR_PORT=9102",
        ),
        (
            "typo in a setting",
            lambda t: t.replace("VALORA_PREDICTOR_INSTANCE_ID:", "VALORA_PREDICTOR_INSTANCEID:"),
            "not a setting",
        ),
        (
            "missing bind host",
            lambda t: t.replace("      VALORA_GATEWAY_HOST: 0.0.0.0\n", ""),
            "VALORA_GATEWAY_HOST missing",
        ),
        (
            "missing job dependency",
            lambda t: t.replace(
                TRAINER_DEPS,
                TRAINER_DEPS.replace(MIGRATE_DEP, ""),
            ),
            "must depend on db-migrate",
        ),
        (
            "dependency on unknown service",
            lambda t: t.replace(
                "kafka: {condition: service_healthy}", "kafak: {condition: service_healthy}", 1
            ),
            "unknown service kafak",
        ),
        (
            "literal password",
            lambda t: t.replace(
                "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?"
                "set GRAFANA_ADMIN_PASSWORD in compose/.env}",
                "GF_SECURITY_ADMIN_PASSWORD: hunter2",
            ),
            "literal",
        ),
        (
            "service removed",
            lambda t: re.sub(r"\n  validator:\n.*?\n\n", "\n", t, count=1, flags=re.S),
            "service validator",
        ),
        (
            "topics job does not create the registry",
            lambda t: t.replace(
                '["valora", "ops", "create-topics", "--gateway-replicas", "1"]',
                '["valora", "ops", "migrate"]',
            ),
            "create every registry topic",
        ),
        (
            "unknown valora sub-command",
            lambda t: t.replace('["valora", "ops", "migrate"]', '["valora", "ops", "migrat"]'),
            "valora ops migrat",
        ),
        (
            "floating image tag",
            lambda t: t.replace("image: postgres:17.6-bookworm", "image: postgres:17-bookworm"),
            "not an exact version",
        ),
        (
            "latest image",
            lambda t: t.replace("image: prom/prometheus:v3.5.0", "image: prom/prometheus:latest"),
            "tag latest",
        ),
        (
            "optional secret",
            lambda t: t.replace(
                "${GATEWAY_API_KEYS_ADMIN:?set GATEWAY_API_KEYS_ADMIN in compose/.env}",
                "${GATEWAY_API_KEYS_ADMIN:-}",
            ),
            "optional secret",
        ),
        (
            "gateway published beyond loopback",
            lambda t: t.replace(
                "127.0.0.1:${GATEWAY_HOST_PORT:-8000}:8000", "${GATEWAY_HOST_PORT:-8000}:8000"
            ),
            "published beyond loopback",
        ),
        (
            "kafka version drift",
            lambda t: t.replace("apache/kafka:4.1.1", "apache/kafka:3.9.0"),
            "apache/kafka",
        ),
    ],
)
def test_a_broken_compose_file_is_reported(
    paths: Paths, services: list[ServiceExpectation], tmp_path: Path, name: str, edit, expect: str
) -> None:  # type: ignore[no-untyped-def]
    broken = _mutate(paths, tmp_path, edit)
    problems = _check(broken, paths.env_example, services)
    assert any(expect in p for p in problems), f"{name}: {problems}"


def test_a_missing_required_variable_is_reported(paths: Paths, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "\n".join(
            line
            for line in paths.env_example.read_text().splitlines()
            if not line.startswith("POSTGRES_PASSWORD=")
        )
    )
    problems = [str(f) for f in errors(compose.check_compose(paths.compose, env))]
    assert any("POSTGRES_PASSWORD" in p for p in problems), problems


def test_a_real_secret_in_the_env_example_is_reported(paths: Paths, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        paths.env_example.read_text().replace(
            "POSTGRES_PASSWORD=valora-local-only", "POSTGRES_PASSWORD=s3cr3t"
        )
    )
    problems = [str(f) for f in errors(compose.check_compose(paths.compose, env))]
    assert any("POSTGRES_PASSWORD must be empty or a local-only value" in p for p in problems), (
        problems
    )


def test_env_example_holds_no_valora_settings(paths: Paths) -> None:
    keys = compose.parse_env_file(paths.env_example)
    assert not [k for k in keys if k.startswith("VALORA_")]
    assert yaml.safe_load(paths.compose.read_text())["services"]
