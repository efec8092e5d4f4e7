"""``valora train``: help text and the progress / result rendering (no Kafka)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner
from valora_cli import train
from valora_contracts import GateResult, ModelMetrics, ModelTrained
from valora_db.tables.trainer import TrainingRequestRow

pytestmark = pytest.mark.unit


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(train.app, ["--help"])
    assert result.exit_code == 0
    for option in ("--model", "--trials", "--wait", "--timeout"):
        assert option in result.output


def test_progress_description() -> None:
    assert "waiting" in train._describe(None)
    row = TrainingRequestRow(
        request_id="r",
        model_name="m",
        reason="manual",
        requested_by="cli",
        trace_id="t",
        status="running",
        stage="search",
        trials_done=3,
        trials_total=30,
        best_rmse=21_000.4,
        attempts=2,
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
