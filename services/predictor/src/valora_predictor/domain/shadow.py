"""The challenger in the shadow of the champion: valued on the same columns in the same call,
its answers attached to the champion's rows (:class:`~.predictions.ShadowAnswer`) and published
as pairs (``predictions.shadow.v1``), never returned to a caller."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, replace

from valora_contracts import ShadowPrediction

from valora_predictor.domain.model import FeatureColumns, ModelHandle, ModelOutput
from valora_predictor.domain.predictions import PredictionRow, ShadowAnswer

__all__ = ["Outputs", "shadow_event", "shadowed", "value_both"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    champion: ModelOutput
    latency_ms: float
    shadow: ModelOutput | None = None


def value_both(
    champion: ModelHandle, challenger: ModelHandle | None, columns: FeatureColumns
) -> Outputs:
    """The champion's output (its error raises), then the challenger's on the same columns
    (its error is logged: the champion's answers never wait on it)."""
    started = time.perf_counter()
    output = champion.predict(columns)
    latency_ms = (time.perf_counter() - started) * 1000.0
    if challenger is None:
        return Outputs(output, latency_ms)
    try:
        shadow = challenger.predict(columns, bounds_only=True)  # no warnings, no error model
    except Exception as exc:
        logger.error(
            "challenger failed; the champion's answers go out without it",
            extra={"model_version": challenger.ref.version, "error": str(exc)[:500]},
        )
        return Outputs(output, latency_ms)
    return Outputs(output, latency_ms, shadow)


def shadowed(rows: list[PredictionRow], version: str, output: ModelOutput) -> list[PredictionRow]:
    """``rows`` with the challenger's answers attached; a row it valued as a non-finite number
    keeps none (logged): a broken challenger never fails the champion's answer."""
    prices, lowers, uppers = output.price.tolist(), output.lower.tolist(), output.upper.tolist()
    out: list[PredictionRow] = []
    for i, row in enumerate(rows):
        if not all(math.isfinite(v) for v in (prices[i], lowers[i], uppers[i])):
            out.append(row)
            continue
        answer = ShadowAnswer(
            model_version=version,
            price=prices[i],
            lower_bound=min(lowers[i], prices[i]),
            upper_bound=max(uppers[i], prices[i]),
        )
        out.append(replace(row, shadow=answer))
    dropped = sum(r.shadow is None for r in out)
    if dropped:
        logger.error(
            "challenger gave non-finite answers; those rows have no shadow",
            extra={"model_version": version, "rows": dropped},
        )
    return out


def shadow_event(row: PredictionRow) -> ShadowPrediction | None:
    """The ``predictions.shadow.v1`` event of a listing the challenger also valued (event id
    derived from the prediction and the challenger version: a re-published pair is the same
    event). An input without a listing id has none: no sale can ever be joined to it (its
    shadow answer is stored all the same)."""
    answer = row.shadow
    if answer is None or not row.listing_id:
        return None
    return ShadowPrediction(
        event_id=hashlib.blake2b(
            f"{row.prediction_id}:{answer.model_version}".encode(), digest_size=16
        ).hexdigest(),
        trace_id=row.trace_id,
        prediction_id=row.prediction_id,
        input_id=row.input_id,
        listing_id=row.listing_id,
        source=row.source,  # type: ignore[arg-type]
        model_name=row.model_name,
        champion_version=row.model_version,
        champion_price=row.price,
        champion_lower=row.lower_bound,
        champion_upper=row.upper_bound,
        challenger_version=answer.model_version,
        challenger_price=answer.price,
        challenger_lower=answer.lower_bound,
        challenger_upper=answer.upper_bound,
        level=row.interval_level,
    )
