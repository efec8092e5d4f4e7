"""``valora dlq``: naming the dead-letter topic, reading --since, planning a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from valora_cli.dlq import dlq_topic, parse_since, plan_replay
from valora_contracts import DeadLetter

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_source_topic_or_its_dead_letter_topic_names_the_same_dlq() -> None:
    assert dlq_topic("listings.raw.v1") == dlq_topic("listings.raw.dlq.v1") == "listings.raw.dlq.v1"
    with pytest.raises(typer.BadParameter):
        dlq_topic("no.such.topic.v1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-11-30T08:00:00Z", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        ("2026-11-30T08:00:00", datetime(2026, 11, 30, 8, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_or_a_time(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


def test_a_bad_since_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday", now=NOW)


def _letter(*, truncated: bool, topic: str = "sales.observed.v1") -> DeadLetter:
    return DeadLetter(
        original=b"x",
        original_size=200_000 if truncated else 1,
        original_sha256="0" * 64,
        original_truncated=truncated,
        error_class="permanent",
        error_type="E",
        error="bad",
        attempts=1,
        source_topic=topic,
        source_partition=0,
        source_offset=1,
        service="s",
    )


def test_a_replay_sends_complete_letters_and_refuses_the_rest_with_the_reason() -> None:
    whole, cut, foreign = (
        _letter(truncated=False),
        _letter(truncated=True),
        _letter(truncated=False, topic="elsewhere.v1"),
    )
    plan = plan_replay([whole, cut, foreign], known={"sales.observed.v1"})
    assert plan.send == [whole]
    (first, why_first), (second, _) = plan.refused
    assert first is cut
    assert "cannot be replayed" in why_first
    assert second is foreign
