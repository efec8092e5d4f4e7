"""kubeflow/: the pipeline compiles, is current, and runs the trainer's own steps; Dockerfile,
Prometheus and Grafana agree with the code; topics spelled anywhere exist in the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from valora_deploycheck import artifacts, kubeflow
from valora_deploycheck.expectations import ServiceExpectation, static_topics
from valora_deploycheck.findings import errors, format_findings
from valora_deploycheck.runner import Paths

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def compiled(paths: Paths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kubeflow.compile_pipeline(
        paths.pipeline, tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    )


def test_pipeline_compiles_is_current_and_runs_trainer_steps(compiled: Path, paths: Paths) -> None:
    found = kubeflow.check_pipeline(compiled, paths.pipeline_yaml)
    assert not errors(found), format_findings(found)


def test_pipeline_image_can_be_chosen_at_compile_time(paths: Paths, tmp_path: Path) -> None:
    out = kubeflow.compile_pipeline(
        paths.pipeline, tmp_path / "p.yaml", image="registry.example.com/valora/trainer:1.2.3"
    )
    assert "registry.example.com/valora/trainer:1.2.3" in out.read_text()
    assert not errors(kubeflow.check_pipeline(out))


def test_a_pipeline_running_an_unknown_step_is_reported(compiled: Path, tmp_path: Path) -> None:
    broken = tmp_path / "pipeline.yaml"
    broken.write_text(compiled.read_text().replace("- search-worker\n", "- tune-everything\n"))
    problems = [str(f) for f in errors(kubeflow.check_pipeline(broken))]
    assert any("search-worker is not in the pipeline" in p for p in problems), problems


def test_a_stale_committed_pipeline_is_reported(compiled: Path, tmp_path: Path) -> None:
    stale = tmp_path / "committed.yaml"
    stale.write_text(compiled.read_text().replace("trials", "trails"))
    assert any("out of date" in str(f) for f in kubeflow.check_pipeline(compiled, stale))


def test_dockerfile_pins_and_targets(paths: Paths) -> None:
    found = artifacts.check_dockerfile(paths.dockerfile, paths.root)
    assert not errors(found), format_findings(found)


def test_dockerfile_version_drift_is_reported(paths: Paths, tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        paths.dockerfile.read_text().replace("ARG MLFLOW_VERSION=", "ARG MLFLOW_VERSION=0.0.1-")
    )
    assert any("MLFLOW_VERSION" in str(f) for f in artifacts.check_dockerfile(broken, paths.root))


def test_prometheus_scrapes_every_service(paths: Paths, services: list[ServiceExpectation]) -> None:
    found = artifacts.check_prometheus(paths.prometheus, services)
    assert not errors(found), format_findings(found)


def test_dashboards_use_metrics_the_services_export(
    paths: Paths, services: list[ServiceExpectation]
) -> None:
    assert paths.dashboards
    for dash in paths.dashboards:
        found = artifacts.check_dashboard_metrics(dash, paths.root, services)
        assert not errors(found), format_findings(found)


def test_a_dashboard_with_an_unknown_metric_is_reported(
    paths: Paths, services: list[ServiceExpectation], tmp_path: Path
) -> None:
    broken = tmp_path / "d.json"
    broken.write_text(
        paths.dashboards[0]
        .read_text()
        .replace("valora_consumer_dead_letters_total", "valora_deadletters_total")
    )
    assert any(
        "valora_deadletters_total" in str(f)
        for f in artifacts.check_dashboard_metrics(broken, paths.root, services)
    )


def test_topics_spelled_in_deployment_files_exist(paths: Paths, tmp_path: Path) -> None:
    files = [
        paths.compose,
        paths.prometheus,
        *paths.dashboards,
        paths.pipeline,
        *sorted(paths.k8s.rglob("*.yaml")),
    ]
    found = artifacts.check_topic_mentions(files)
    assert not found, format_findings(found)
    bogus = tmp_path / "x.yaml"
    bogus.write_text("topic: listings.cooked.v1\nok: " + next(iter(static_topics())) + "\n")
    assert [f.message for f in artifacts.check_topic_mentions([bogus])] == [
        "topic listings.cooked.v1 is not in valora_contracts.ALL_TOPICS"
    ]


def test_expectations_come_from_the_code(services: list[ServiceExpectation]) -> None:
    by_name = {s.name: s for s in services}
    for s in services:
        assert s.settings is not None, s.gaps
        assert s.port is not None
        assert s.port_env in s.settings.names
        assert s.host_env in s.loopback_envs()
    # transactional ids derive from the group and the partition: no per-pod id to configure
    assert by_name["ingestion"].transactional_envs() == set()
    assert by_name["gateway"].needs_db
    assert not by_name["ingestion"].needs_db
    assert by_name["trainer"].commands[2:] == (
        "snapshot",
        "search-worker",
        "evaluate-gate",
        "promote",
    )
    assert not errors([g for s in services for g in s.gaps]), format_findings(
        [g for s in services for g in s.gaps]
    )


def test_a_service_that_cannot_describe_itself_is_reported(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valora_deploycheck import described

    def broken(module: str) -> dict[str, object]:
        raise described.DescribeError(f"python -m {module} describe exited 1: boom")

    monkeypatch.setattr(described, "describe_module", broken)
    from valora_deploycheck import expectations

    found = expectations.discover_services(paths.root)
    assert all(s.settings is None for s in found)
    assert any("describe exited 1: boom" in g.message for s in found for g in s.gaps)


def test_describe_parses_what_a_service_prints() -> None:
    from valora_deploycheck.described import describe_module, settings_env

    env = settings_env(describe_module("valora_validator"))
    assert env.class_name == "ValidatorSettings"
    assert env.field_of("VALORA_VALIDATOR_PORT") == "validator_port"
    assert env.defaults["validator_port"] == 8102
    assert "VALORA_LOG_FILE" in env.names
