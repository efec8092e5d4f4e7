"""``valora train``: help text, the progress / result rendering, and how ``--wait`` reads the
version a predictor serves (no Kafka)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from valora_cli import train
from valora_contracts import GateResult, ModelMetrics, ModelTrained
from valora_db.read_models.training_requests import TrainingRequestStatus

pytestmark = pytest.mark.unit


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(train.app, ["--help"])
    assert result.exit_code == 0
    for option in ("--model", "--trials", "--wait", "--timeout", "--predictor-url"):
        assert option in result.output


def test_progress_description() -> None:
    assert "waiting" in train._describe(None)
    row = TrainingRequestStatus(
        request_id="r",
        model_name="m",
        status="running",
        stage="search",
        trials_done=3,
        trials_total=30,
        best_rmse=21_000.4,
        attempts=2,
        run_id=None,
        model_version=None,
        gate_passed=None,
        error=None,
        finished_at=None,
    )
    assert train._describe(row) == (
        "running · search · trial 3/30 · best CV RMSE 21,000 · attempt 2"
    )


def test_result_table_shows_metrics_and_gate(capsys: pytest.CaptureFixture[str]) -> None:
    trained = ModelTrained(
        request_id="r",
        model_name="m",
        model_version="2",
        run_id="abc",
        metrics=ModelMetrics(
            rmse=21_000,
            mae=16_000,
            mape=0.05,
            r2=0.98,
            interval_coverage=0.9,
            n_train=100,
            n_test=20,
        ),
        gate=GateResult(
            passed=False, reasons=["r2 too low"], champion_version="1", champion_rmse=20_000
        ),
    )
    train._show(trained)
    out = capsys.readouterr().out
    assert "21,000" in out
    assert "gate failed" in out
    assert "r2 too low" in out


def test_the_served_version_is_read_from_the_predictors_own_metrics() -> None:
    """The gauge the predictor swaps with its model is what --wait reads."""
    from prometheus_client import generate_latest
    from valora_cli.serving import served_version
    from valora_ml.registry_ref import ModelRef
    from valora_observability import ServiceMetrics
    from valora_predictor.adapters.output import PredictorMetrics, ServedVersion

    metrics = ServiceMetrics("predictor")
    swap = ServedVersion(metrics=PredictorMetrics(metrics=metrics), service="predictor")

    class Handle:
        def __init__(self, version: str) -> None:
            self.ref = ModelRef(name="m", version=version, run_id="r")

    assert served_version(generate_latest(metrics.registry).decode(), "m") is None
    swap(Handle("3"))  # type: ignore[arg-type]
    swap(Handle("4"))  # type: ignore[arg-type]
    text = generate_latest(metrics.registry).decode()
    assert served_version(text, "m") == "4"
    assert served_version(text, "other") is None


def test_the_challenger_is_read_from_its_own_gauge_and_cleared_when_dropped() -> None:
    """``valora train --promotion shadow --wait`` reads the challenger gauge; the champion
    gauge is untouched by it."""
    from prometheus_client import generate_latest
    from valora_cli.serving import CHALLENGER_METRIC, served_version
    from valora_ml.registry_ref import ModelRef
    from valora_observability import ServiceMetrics
    from valora_predictor.adapters.output import PredictorMetrics, ServedVersion

    metrics = ServiceMetrics("predictor")
    predictor = PredictorMetrics(metrics=metrics)
    champion = ServedVersion(metrics=predictor, service="predictor")
    challenger = ServedVersion(metrics=predictor, service="predictor", challenger=True)

    class Handle:
        def __init__(self, version: str) -> None:
            self.ref = ModelRef(name="m", version=version, run_id="r")

    champion(Handle("4"))  # type: ignore[arg-type]
    challenger(Handle("5"))  # type: ignore[arg-type]
    text = generate_latest(metrics.registry).decode()
    assert served_version(text, "m") == "4"
    assert served_version(text, "m", metric=CHALLENGER_METRIC) == "5"
    challenger(None)  # promoted or retired: dropped
    text = generate_latest(metrics.registry).decode()
    assert served_version(text, "m", metric=CHALLENGER_METRIC) is None
    assert served_version(text, "m") == "4"


def test_wait_returns_once_every_predictor_serves_the_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from valora_cli import serving

    answers = {"a": iter(["1", "1", "2"]), "b": iter([None, "2", "2"])}
    monkeypatch.setattr(serving, "_read", lambda url, model, timeout_s, metric: next(answers[url]))
    served = serving.wait_until_served(
        ["a", "b"], model_name="m", version="2", deadline=time.monotonic() + 5, poll_s=0
    )
    assert served == {"a": "2", "b": "2"}
    stuck = {"a": iter(["1"] * 100)}
    monkeypatch.setattr(serving, "_read", lambda url, model, timeout_s, metric: next(stuck[url]))
    late = serving.wait_until_served(
        ["a"], model_name="m", version="2", deadline=time.monotonic() + 0.05, poll_s=0.01
    )
    assert late == {"a": "1"}
