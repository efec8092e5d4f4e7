"""Vectorised valuation: many inputs, one model call, one bulk insert.

Plain code taking its dependencies (holder, store) as keyword arguments. While a challenger
shadows the champion, the same feature columns are valued by it right after the champion, in
the same call; its answers are stored beside the champion's rows and published for the drift
monitor's paired judgement, never returned. A challenger that fails is logged, and
the champion's answers go out as if there were none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from valora_contracts import (
    ListingFeatures,
    PredictionInterval,
    PredictionMade,
    PredictionResult,
    PredictionSource,
    new_id,
)
from valora_ml.features import TIME_COLUMN

from valora_predictor.domain.holder import ModelHolder
from valora_predictor.domain.model import ModelHandle
from valora_predictor.domain.predictions import PredictionRow, PredictionStore
from valora_predictor.domain.shadow import shadowed, value_both
from valora_predictor.errors import NoChampionError, PredictionFailedError

__all__ = [
    "ValuationItem",
    "Valuer",
    "feature_columns",
    "input_hash",
    "made_event",
    "result_of",
    "unknown_neighbourhood_warning",
]

logger = logging.getLogger(__name__)
THREAD_THRESHOLD = 256
"""Batches larger than this are predicted in a worker thread (the event loop keeps serving)."""


@dataclass(frozen=True, slots=True)
class ValuationItem:
    """One house to value, with where it came from; ``listed_at`` is the date to value it at
    (a streamed listing's listing date; ``None``, as for requests: now)."""

    source: PredictionSource
    input_id: str
    listing_id: str | None
    features: ListingFeatures
    trace_id: str
    batch_job_id: str | None = None
    correlation_id: str | None = None
    listed_at: datetime | None = None
    asking_price: float | None = None
    """A streamed listing's own price, if it carries one (published with the prediction)."""


def feature_columns(
    features: Sequence[ListingFeatures], listed_at: Sequence[datetime | None] = ()
) -> dict[str, list[Any]]:
    """The six English feature columns, one entry per input, and ``listed_at`` when any input
    has a date (a market-time model values the others now)."""
    columns: dict[str, list[Any]] = {
        "area": [f.area for f in features],
        "bedrooms": [f.bedrooms for f in features],
        "bathrooms": [f.bathrooms for f in features],
        "age": [f.age for f in features],
        "garage": [f.garage for f in features],
        "neighbourhood": [f.neighbourhood for f in features],
    }
    if any(d is not None for d in listed_at):
        columns[TIME_COLUMN] = list(listed_at)
    return columns


def input_hash(features: dict[str, object]) -> str:
    """A stable hash of the features (sorted-key JSON, blake2b-128)."""
    return hashlib.blake2b(
        orjson.dumps(features, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


def unknown_neighbourhood_warning(name: str) -> str:
    return (
        f"unknown neighbourhood {name!r}: not seen in training; valued as an unseen "
        "neighbourhood (never re-mapped to a known one)"
    )


def _warnings(
    known: frozenset[str] | None, features: ListingFeatures, out_of_range: Sequence[str]
) -> list[str]:
    """The unknown-neighbourhood warning (if any), then one per input outside the training
    range (from the model's vectorised check)."""
    if known is not None and features.neighbourhood not in known:
        return [unknown_neighbourhood_warning(features.neighbourhood), *out_of_range]
    return list(out_of_range)


def _estimates(values: Any, n: int) -> list[float | None]:
    """Each row's expected absolute error as a JSON-safe number (``None``: no estimate)."""
    if values is None:
        return [None] * n
    return [v if math.isfinite(v) and v >= 0 else None for v in values.tolist()]


class Valuer:
    """Predict a batch with the current champion (and the challenger, if one shadows it) and
    store it idempotently."""

    def __init__(
        self,
        *,
        holder: ModelHolder,
        store: PredictionStore,
        shadow: ModelHolder | None = None,
        id_factory: Callable[[], str] = new_id,
    ) -> None:
        self._holder = holder
        self._store = store
        self._shadow = shadow
        self._new_id = id_factory

    def _challenger(self, champion: ModelHandle) -> ModelHandle | None:
        challenger = self._shadow.current if self._shadow is not None else None
        if challenger is None or challenger.ref.version == champion.ref.version:
            return None  # none, or just promoted (its alias not yet dropped)
        return challenger

    @property
    def has_champion(self) -> bool:
        return self._holder.current is not None

    async def value(self, items: Sequence[ValuationItem]) -> list[PredictionRow]:
        """Stored rows, in the order of ``items`` (existing rows for redelivered inputs)."""
        handle = self._holder.current
        if handle is None:
            raise NoChampionError("no champion model is being served yet")
        if not items:
            return []
        columns = feature_columns([i.features for i in items], [i.listed_at for i in items])
        challenger = self._challenger(handle)
        try:
            if len(items) > THREAD_THRESHOLD:
                outputs = await asyncio.to_thread(value_both, handle, challenger, columns)
            else:
                outputs = value_both(handle, challenger, columns)
        except Exception as exc:
            raise PredictionFailedError(f"model {handle.ref.version} failed: {exc}") from exc
        output, latency_ms = outputs.champion, outputs.latency_ms
        ref, level, known = handle.ref, handle.level, handle.known_neighbourhoods
        prices, lowers, uppers = output.price.tolist(), output.lower.tolist(), output.upper.tolist()
        ranges = output.warnings or [()] * len(items)
        expected = _estimates(output.expected_error, len(items))
        rows: list[PredictionRow] = []
        for i, item in enumerate(items):
            features = item.features.model_dump()
            rows.append(
                PredictionRow(
                    prediction_id=self._new_id(),
                    source=item.source,
                    input_id=item.input_id,
                    listing_id=item.listing_id,
                    batch_job_id=item.batch_job_id,
                    correlation_id=item.correlation_id,
                    features=features,
                    price=prices[i],
                    lower_bound=min(lowers[i], prices[i]),
                    upper_bound=max(uppers[i], prices[i]),
                    interval_level=level,
                    model_name=ref.name,
                    model_version=ref.version,
                    run_id=ref.run_id,
                    input_hash=input_hash(features),
                    trace_id=item.trace_id,
                    latency_ms=latency_ms,
                    warnings=_warnings(known, item.features, ranges[i]),
                    expected_abs_error=expected[i],
                )
            )
        if challenger is not None and outputs.shadow is not None:
            rows = shadowed(rows, challenger.ref.version, outputs.shadow)
        stored = await self._store.save(rows)  # with the shadow answers, in one statement
        # a row stored by an earlier delivery comes back without its shadow: the one valued
        # now goes with it to the event
        return [
            stored[r.key] if r.shadow is None or stored[r.key].shadow else _with(stored[r.key], r)
            for r in rows
        ]


def _with(stored: PredictionRow, valued: PredictionRow) -> PredictionRow:
    return replace(stored, shadow=valued.shadow)


def result_of(row: PredictionRow) -> PredictionResult:
    return PredictionResult(
        prediction_id=row.prediction_id,
        input_id=row.input_id,
        listing_id=row.listing_id,
        price=row.price,
        interval=PredictionInterval(
            lower_bound=row.lower_bound, upper_bound=row.upper_bound, level=row.interval_level
        ),
        model_name=row.model_name,
        model_version=row.model_version,
        run_id=row.run_id,
        warnings=list(row.warnings),
        expected_abs_error=row.expected_abs_error,
    )


def made_event(
    row: PredictionRow,
    *,
    features: ListingFeatures | None = None,
    result: PredictionResult | None = None,
    asking_price: float | None = None,
) -> PredictionMade:
    """The ``predictions.made.v1`` event of a stored row (event id = prediction id, so a
    re-published event is recognisably the same one)."""
    return PredictionMade(
        event_id=row.prediction_id,
        trace_id=row.trace_id,
        source=row.source,  # type: ignore[arg-type]
        features=features or ListingFeatures.model_validate(row.features),
        result=result or result_of(row),
        input_hash=row.input_hash,
        latency_ms=row.latency_ms,
        asking_price=asking_price,
    )
