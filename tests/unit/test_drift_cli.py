"""``valora alerts tail`` line format and ``valora drift report`` rendering (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from valora_cli.alerts import format_alert
from valora_cli.drift import render_html, render_png
from valora_contracts import DriftAlert, DriftWindow
from valora_db.read_models.drift_windows import JudgedWindow

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_alert_line_is_readable() -> None:
    alert = DriftAlert(
        kind="data",
        feature="area",
        statistic="psi",
        value=0.52,
        threshold=0.25,
        p_value=1e-30,
        severity="critical",
        window=DriftWindow(start=T0, end=T0, size=1000),
        model_name="valora-price",
        model_version="3",
        dedupe_key="valora-price/data/area/psi",
        state="firing",
        occurred_at=T0,
    )
    line = format_alert(alert)
    assert line.startswith("2026-01-01 12:00:00  FIRING   critical data/area  psi=0.52 >= 0.25")
    assert "valora-price v3" in line
    assert "window 1000" in line
    assert line.endswith("key=valora-price/data/area/psi")


def test_report_renders_png_and_self_contained_html() -> None:
    feature = {
        "feature": "area",
        "kind": "numeric",
        "test": "ks",
        "psi": 0.5,
        "statistic": 0.3,
        "p_value": 1e-20,
        "p_adjusted": 6e-20,
        "size": 1000,
        "labels": ["< 1", "[1, 2)", ">= 2"],
        "reference": [0.3, 0.4, 0.3],
        "current": [0.1, 0.3, 0.6],
    }
    row = JudgedWindow(
        model_name="m",
        model_version="1",
        kind="data",
        window_start=T0,
        window_end=T0,
        size=1000,
        features=[feature, {**feature, "feature": "neighbourhood", "test": "chi2"}],
    )
    assert render_png(row).startswith(b"\x89PNG")
    page = render_html(row)
    assert "data:image/png;base64," in page
    assert "neighbourhood" in page
    assert "http" not in page.replace("charset", "")  # nothing fetched from elsewhere
