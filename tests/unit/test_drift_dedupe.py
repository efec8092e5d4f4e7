"""Each listing and prediction counts once per window, in bounded memory (pure domain, no fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from valora_drift_monitor.domain.dedupe import RecentEventIds
from valora_drift_monitor.domain.windows import StreamWindows, WindowPolicy

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_recent_ids_remember_at_least_the_last_capacity_and_hold_at_most_twice_that() -> None:
    ids = RecentEventIds(100)
    for i in range(1000):
        ids.add(f"e{i}")
        assert len(ids) < 200
        recent = range(max(0, i - 99), i + 1)
        assert all(f"e{j}" in ids for j in recent)
    assert "e0" not in ids  # long forgotten: memory is bounded, not a growing set


def test_unseen_drops_remembered_ids_and_repeats_within_the_batch() -> None:
    ids = RecentEventIds(10)
    ids.add("a")
    fresh = ids.unseen(["a", "b", "c", "b", "a", "d"], lambda e: e)
    assert fresh == ["b", "c", "d"]
    assert "b" not in ids  # unseen only looks; add() counts


def test_recent_ids_reject_a_zero_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentEventIds(0)


def _windows(size: int, remember: int) -> StreamWindows[int]:
    return StreamWindows(WindowPolicy(size=size, seconds=3600, min_size=2), remember=remember)


def test_an_event_id_is_counted_once_per_window() -> None:
    windows = _windows(size=3, remember=1)  # remembers at least a window's worth anyway
    at = [T0 + timedelta(seconds=i) for i in range(4)]
    assert windows.add("a", at[0], 0) is None
    assert windows.add("a", at[1], 1) is None  # a repeat: not counted
    assert windows.add("b", at[2], 2) is None
    closed = windows.add("c", at[3], 3)
    assert closed is not None
    assert closed.rows == [0, 2, 3]


def test_a_repeat_after_its_window_closed_does_not_count_in_the_next() -> None:
    windows = _windows(size=2, remember=10)
    windows.add("a", T0, 1)
    assert windows.add("b", T0, 2) is not None
    assert windows.add("a", T0, 1) is None  # redelivered after the window was judged
    assert len(windows.open[""]) == 0


def test_each_key_has_its_own_window_and_ids_are_shared_across_keys() -> None:
    windows = _windows(size=2, remember=10)
    windows.add("p1", T0, 1, key="v1")
    windows.add("p2", T0, 2, key="v2")
    assert windows.add("p1", T0, 1, key="v2") is None  # the same event id: not counted again
    closed = windows.add("p3", T0, 3, key="v1")
    assert closed is not None
    assert closed.rows == [1, 3]
    assert windows.open["v2"].rows == [2]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("listing_id", "l" * 201),
        ("listing_id", "a\x00b"),
        ("features.neighbourhood", "n" * 201),
        ("features.bedrooms", 10_001),
        ("features.area", 2e6),
        ("features.age", 1e5),
        ("contract_version", "v" * 900_000),  # a field the monitor does not even read
    ],
)
def test_the_fast_decoder_is_never_more_lenient_than_the_contract(
    field: str, value: object
) -> None:
    """A listing the contract rejects is rejected by the monitor's fast path too (so it is
    dead-lettered, not stored in a column it does not fit)."""
    import orjson
    from valora_contracts import ListingFeatures, ValidatedListing, utcnow
    from valora_drift_monitor.entrypoints.decoding import parse_listing

    body = orjson.loads(
        ValidatedListing(
            listing_id="L1",
            source="unit",
            ingested_at=utcnow(),
            features=ListingFeatures(
                area=80.0, bedrooms=2, bathrooms=1, age=3.0, garage=1, neighbourhood="Centro"
            ),
            content_hash="abc",
            contract_version="1",
        ).model_dump_json()
    )
    node = body
    *path, last = field.split(".")
    for key in path:
        node = node[key]
    node[last] = value
    raw = orjson.dumps(body)
    with pytest.raises(ValueError, match="validation error"):
        ValidatedListing.model_validate_json(raw)
    with pytest.raises(ValueError, match="validation error"):  # the contract's own verdict
        parse_listing(raw)
