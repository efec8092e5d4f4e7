"""The statements of the outcome store, built from :mod:`valora_db.tables.drift_monitor`.

Each takes a whole batch through ``unnest`` arrays (one round trip per batch, not per record):

* :data:`UPSERT_PREDICTIONS` — the latest prediction per (model, listing).
* :data:`UPSERT_SALES` — the latest sale per listing.
* :data:`JOIN_SALES` — outcomes of listings with a prediction and a sale at or after it; a sale
  replaces a listing price. ``RETURNING`` names the versions whose outcomes changed.
* :data:`JOIN_LISTINGS` — outcomes of predictions made before a listing of the same home
  (never over an existing outcome).
* :data:`PERFORMANCE` — rolling MAE/MAPE, overall and (``True``) per neighbourhood.
* :data:`PRUNE` — join state (shadow pairs too) and window statistics older than ``before``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Float,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine
from valora_db.tables.drift_monitor import (
    DriftOutcome,
    DriftPrediction,
    DriftSale,
    DriftShadowPair,
    DriftWindowRow,
)

from valora_drift_monitor.domain.statistics import OVERALL

__all__ = [
    "JOIN_LISTINGS",
    "JOIN_SALES",
    "PERFORMANCE",
    "PRUNE",
    "UPSERT_PREDICTIONS",
    "UPSERT_SALES",
]

_PREDICTIONS = cast(Table, DriftPrediction.__table__)
_SALES = cast(Table, DriftSale.__table__)
_OUTCOMES = cast(Table, DriftOutcome.__table__)
_WINDOWS = cast(Table, DriftWindowRow.__table__)
_TIME = TIMESTAMP(timezone=True)


def _unnest(**columns: TypeEngine[Any]) -> TableValuedAlias:
    """``unnest(:a, :b, ..) AS anon(a, b, ..)``: one array parameter per column."""
    arrays = [bindparam(name, type_=ARRAY(type_)) for name, type_ in columns.items()]
    names = [column(name, type_) for name, type_ in columns.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived(with_types=False)


_P, _S, _O = _PREDICTIONS.c, _SALES.c, _OUTCOMES.c
_NEW_PREDICTIONS = _unnest(
    listing_id=String(),
    model_version=String(),
    predicted_price=Float(),
    neighbourhood=String(),
    predicted_at=_TIME,
)
_LABELS = _unnest(listing_id=String(), price=Float(), observed_at=_TIME)
_IDS = _unnest(listing_ids=String())
_MODEL = bindparam("model_name", type_=String())


def _upsert_predictions() -> Any:
    new = _NEW_PREDICTIONS.c
    statement = insert(_PREDICTIONS).from_select(
        ["model_name", *new.keys()],
        select(_MODEL, *new),
    )
    replaced = ("model_version", "predicted_price", "neighbourhood", "predicted_at")
    return statement.on_conflict_do_update(
        index_elements=[_P.model_name, _P.listing_id],
        set_={name: statement.excluded[name] for name in replaced},
        where=statement.excluded.predicted_at >= _P.predicted_at,
    )


def _upsert_sales() -> Any:
    new = _LABELS.c
    statement = insert(_SALES).from_select(
        ["listing_id", "sale_price", "sold_at"], select(new.listing_id, new.price, new.observed_at)
    )
    return statement.on_conflict_do_update(
        index_elements=[_S.listing_id],
        set_={"sale_price": statement.excluded.sale_price, "sold_at": statement.excluded.sold_at},
    )


_OUTCOME_COLUMNS = [
    "model_name",
    "model_version",
    "listing_id",
    "neighbourhood",
    "predicted_price",
    "actual_price",
    "abs_error",
    "abs_pct_error",
    "label_source",
    "observed_at",
]


def _outcome(price: ColumnElement[float], source: str, at: ColumnElement[datetime]) -> Any:
    """The outcome columns of a prediction (``_P``) joined to a realised ``price``."""
    error = func.abs(_P.predicted_price - price)
    return select(
        _P.model_name,
        _P.model_version,
        _P.listing_id,
        _P.neighbourhood,
        _P.predicted_price,
        price,
        error,
        error / price,
        literal(source, String()),
        at,
    )


def _join_sales() -> Any:
    """Outcomes of the batch's listing ids that have both a prediction and an earlier-or-equal
    sale; a sale replaces a listing price, and a changed sale price its outcome."""
    ids = _IDS.c.listing_ids
    joined = (
        _outcome(_S.sale_price, "sale", _S.sold_at)
        .select_from(
            _IDS.join(_PREDICTIONS, and_(_P.model_name == _MODEL, _P.listing_id == ids)).join(
                _SALES, _S.listing_id == ids
            )
        )
        .where(_P.predicted_at <= _S.sold_at)
    )
    statement = insert(_OUTCOMES).from_select(_OUTCOME_COLUMNS, joined)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_O.model_name, _O.model_version, _O.listing_id],
        set_={
            "actual_price": excluded.actual_price,
            "abs_error": excluded.abs_error,
            "abs_pct_error": excluded.abs_pct_error,
            "label_source": "sale",
            "observed_at": excluded.observed_at,
        },
        where=or_(_O.label_source != "sale", _O.actual_price != excluded.actual_price),
    ).returning(_O.model_version)


def _join_listings() -> Any:
    """Outcomes of predictions made before a listing of the same home (never over a sale)."""
    label = _LABELS.c
    joined = (
        _outcome(label.price, "listing", label.observed_at)
        .select_from(
            _LABELS.join(
                _PREDICTIONS, and_(_P.model_name == _MODEL, _P.listing_id == label.listing_id)
            )
        )
        .where(_P.predicted_at < label.observed_at)
    )
    statement = insert(_OUTCOMES).from_select(_OUTCOME_COLUMNS, joined)
    return statement.on_conflict_do_nothing().returning(_O.model_version)


def _performance(*, segments: bool) -> Any:
    """Rolling MAE/MAPE of the latest ``size`` outcomes of a version (of the latest ``scan``
    since ``since``), overall and, with ``segments``, per neighbourhood."""
    recent = (
        select(_O.neighbourhood, _O.abs_error, _O.abs_pct_error, _O.observed_at, _O.id)
        .where(
            _O.model_name == _MODEL,
            _O.model_version == bindparam("model_version"),
            _O.observed_at >= bindparam("since"),
        )
        .order_by(_O.id.desc())
        .limit(bindparam("scan", type_=Integer()))
        .cte("recent")
    )
    newest = recent.c.id.desc()
    ranked = select(
        recent,
        func.row_number().over(order_by=newest).label("overall_rank"),
        func.row_number()
        .over(partition_by=recent.c.neighbourhood, order_by=newest)
        .label("segment_rank"),
    ).cte("ranked")
    r = ranked.c
    size = bindparam("size", type_=Integer())

    def summary(segment: ColumnElement[str]) -> Any:
        return select(
            segment,
            func.count(),
            func.avg(r.abs_error),
            func.avg(r.abs_pct_error),
            func.min(r.observed_at),
            func.max(r.observed_at),
        )

    overall = summary(literal(OVERALL, String())).where(r.overall_rank <= size)
    overall = overall.having(func.count() > 0)
    if not segments:
        return overall
    segment = literal("neighbourhood=", String()) + r.neighbourhood
    by_segment = summary(segment).where(r.segment_rank <= size).group_by(r.neighbourhood)
    return union_all(overall, by_segment)


UPSERT_PREDICTIONS = _upsert_predictions()
UPSERT_SALES = _upsert_sales()
JOIN_SALES = _join_sales()
JOIN_LISTINGS = _join_listings()
PERFORMANCE = {segments: _performance(segments=segments) for segments in (False, True)}
_BEFORE = bindparam("before", type_=_TIME)
PRUNE = (
    delete(_PREDICTIONS).where(_P.predicted_at < _BEFORE),
    delete(_SALES).where(_S.sold_at < _BEFORE),
    delete(_OUTCOMES).where(_O.observed_at < _BEFORE),
    delete(_WINDOWS).where(_WINDOWS.c.created_at < _BEFORE),
    delete(DriftShadowPair).where(DriftShadowPair.predicted_at < _BEFORE),
)
