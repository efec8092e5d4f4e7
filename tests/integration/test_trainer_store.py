"""Training store and request queue on the real PostgreSQL: idempotent upserts, sale labels
(and their dates), the new-labels trigger, the first training of a platform without a champion,
coalescing under the advisory lock, and retry of orphaned runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from valora_contracts import ListingFeatures, SaleObserved, TrainingRequested, ValidatedListing
from valora_db import create_engine, create_session_factory, session_scope
from valora_ml.registry_ref import ModelRef
from valora_trainer.adapters.request_queue import (
    claim_requests,
    finish_requests,
    models_with_work,
    try_lock_model,
    unlock_model,
)
from valora_trainer.adapters.training_store import count_labelled, load_labelled_frame
from valora_trainer.entrypoints.first_training import FirstTraining
from valora_trainer.entrypoints.handlers import (
    handle_listings,
    handle_sales,
    handle_training_request,
)

pytestmark = pytest.mark.integration


def _listing(source: str, i: int, price: float) -> ValidatedListing:
    return ValidatedListing(
        listing_id=f"{source}-{i}",
        source=source,
        ingested_at=datetime.now(UTC),
        features=ListingFeatures(
            area=50 + i, bedrooms=2, bathrooms=1, age=3, garage=1, neighbourhood="Centro"
        ),
        price=price,
        content_hash=f"{source}-{i}-{int(price * 100)}",  # the pattern admits no dot
        contract_version="1",
    )


async def test_store_upserts_idempotently_and_triggers_every_n_labels(devstack: Any) -> None:
    engine = create_engine(devstack.database_url)
    sessions = create_session_factory(engine)
    source = f"it-store-{uuid.uuid4().hex[:8]}"
    model = source
    woke: list[bool] = []
    try:
        batch = [_listing(source, i, 100_000.0 + i) for i in range(6)]
        first = await handle_listings(
            events=batch,
            sessions=sessions,
            model_name=model,
            sources=[source],
            new_labels_every=10,
            wake=lambda: woke.append(True),
        )
        assert (first.stored, first.new_labels, first.requested) == (6, 6, None)
        again = await handle_listings(  # redelivery: nothing new
            events=batch,
            sessions=sessions,
            model_name=model,
            sources=[source],
            new_labels_every=10,
        )
        assert again.new_labels == 0
        more = [_listing(source, i, 1.0 + i) for i in range(6, 11)]
        third = await handle_listings(
            events=more,
            sessions=sessions,
            model_name=model,
            sources=[source],
            new_labels_every=10,
            wake=lambda: woke.append(True),
        )
        assert third.new_labels == 5
        assert third.requested is not None  # 11 >= 10
        assert woke == [True]
        sale = SaleObserved(listing_id=f"{source}-0", sale_price=42.0, sold_at=datetime.now(UTC))
        sold = await handle_sales(
            events=[sale], sessions=sessions, model_name=model, new_labels_every=10
        )
        assert sold.new_labels == 1
        async with session_scope(sessions) as session:
            assert await count_labelled(session, sources=[source]) == 11
            frame = await load_labelled_frame(session, sources=[source])
        labels = dict(zip(frame["listing_id"], frame["price"], strict=True))
        assert labels[f"{source}-0"] == 42.0  # the realised price wins
        assert labels[f"{source}-1"] == 100_001.0
        dates = dict(zip(frame["listing_id"], frame["listed_at"], strict=True))
        assert dates[f"{source}-0"] == sale.sold_at  # ... and its date is the sale's
    finally:
        await engine.dispose()


async def test_requests_coalesce_under_the_lock_and_orphans_are_retried(devstack: Any) -> None:
    engine = create_engine(devstack.database_url)
    sessions = create_session_factory(engine)
    model = f"it-queue-{uuid.uuid4().hex[:8]}"
    try:
        events = [TrainingRequested(model_name=model, reason="manual") for _ in range(3)]
        for event in events:
            assert await handle_training_request(
                event=event, sessions=sessions, model_names=[model]
            )
        assert not await handle_training_request(
            event=events[0], sessions=sessions, model_names=[model]
        )  # redelivery
        async with session_scope(sessions) as session:
            assert await models_with_work(session, [model]) == [model]

        async with engine.connect() as a, engine.connect() as b:
            assert await try_lock_model(a, model)
            assert not await try_lock_model(b, model)  # one training per model at a time
            async with session_scope(sessions) as session:
                claimed = await claim_requests(session, model, max_attempts=2)
            assert sorted(c.request_id for c in claimed) == sorted(e.request_id for e in events)
            assert {c.attempts for c in claimed} == {1}
            await unlock_model(a, model)
            await a.commit()
            assert await try_lock_model(b, model)
            # The holder "crashed": its requests are still running and are claimed again.
            async with session_scope(sessions) as session:
                again = await claim_requests(session, model, max_attempts=2)
            assert {c.attempts for c in again} == {2}
            async with session_scope(sessions) as session:  # attempts exhausted: failed
                assert await claim_requests(session, model, max_attempts=2) == []
                assert await models_with_work(session, [model]) == []
            late = TrainingRequested(model_name=model, reason="drift")
            await handle_training_request(event=late, sessions=sessions, model_names=[model])
            async with session_scope(sessions) as session:
                claimed = await claim_requests(session, model, max_attempts=2)
                assert [c.request_id for c in claimed] == [late.request_id]
                await finish_requests(session, [late.request_id], status="done")
                assert await models_with_work(session, [model]) == []
            await unlock_model(b, model)
    finally:
        await engine.dispose()


class _Champions:
    """The registry's champion look-up (the only part FirstTraining uses)."""

    def __init__(self) -> None:
        self.current: ModelRef | None = None
        self.lookups = 0

    def champion(self, model_name: str) -> ModelRef | None:
        self.lookups += 1
        return self.current


async def test_first_training_is_requested_once_the_store_is_big_enough(devstack: Any) -> None:
    """Not only at start-up: as listings arrive, one request when the store reaches the
    threshold; none while it is open; after a rejected first model, again only once the store
    grew by the threshold; never once a champion exists."""
    engine = create_engine(devstack.database_url)
    sessions = create_session_factory(engine)
    source = f"it-first-{uuid.uuid4().hex[:8]}"
    champions, woke = _Champions(), []
    first = FirstTraining(
        sessions=sessions,
        registry=champions,  # type: ignore[arg-type]
        model_name=source,
        sources=[source],
        min_rows=8,
        on_request=lambda: woke.append(True),
    )

    async def store(start: int, n: int) -> None:
        await handle_listings(
            events=[_listing(source, i, 100_000.0 + i) for i in range(start, start + n)],
            sessions=sessions,
            model_name=source,
            sources=[source],
            new_labels_every=0,
            on_labels=first.note_labels,
        )

    try:
        assert await first.check() is None  # start-up: an empty store
        assert not first.due
        await store(0, 5)
        assert first.due
        assert await first.check() is None  # 5 < 8
        await store(5, 4)
        request = await first.check()
        assert request is not None
        assert request.reason == "startup"
        assert woke == [True]
        await store(9, 1)
        assert await first.check() is None  # the request is still open
        async with session_scope(sessions) as session:
            claimed = await claim_requests(session, source, max_attempts=3)
            assert [c.request_id for c in claimed] == [request.request_id]
            await finish_requests(session, [request.request_id], status="done")  # rejected
        await store(10, 1)
        assert await first.check() is None  # 11 rows: not 9 + 8 yet
        await store(11, 6)
        again = await first.check()
        assert again is not None
        assert again.request_id != request.request_id
        champions.current = ModelRef(name=source, version="1", run_id="r")
        async with session_scope(sessions) as session:
            await finish_requests(session, [again.request_id], status="done")
        await store(17, 1)
        assert await first.check() is None  # a champion: nothing requested, never again
        lookups = champions.lookups
        await store(18, 20)
        assert not first.due
        assert await first.check() is None
        assert champions.lookups == lookups
    finally:
        await engine.dispose()
