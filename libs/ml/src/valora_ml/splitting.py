"""The hold-out split: the most recent rows when every row is dated, else a seeded hash order.

:func:`hold_out_split` divides labelled rows into the rows a model may learn from (``fit``: the
search, the point model and its cross-conformal interval) and the held-out ``test`` rows the gate
judges it on. With a date on every row (:data:`~valora_ml.features.TIME_COLUMN`, or another
column such as a sale date) the test rows are the newest ones: a valuation model is used on the
future, so it is judged on it. Otherwise rows are ordered by a keyed BLAKE2b hash of their id
(:func:`stable_order`), which keeps each listing's role as the store grows. The split's ``kind``
(``time`` or ``hash``) is recorded with the run, and a ``time`` split is what enables the
market-time feature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from valora_ml.features import TIME_COLUMN
from valora_ml.model_errors import FeatureError

__all__ = ["HoldOut", "SplitKind", "has_dates", "hold_out_split", "stable_order"]

SplitKind = Literal["time", "hash"]


@dataclass(frozen=True)
class HoldOut:
    fit: pd.DataFrame
    test: pd.DataFrame
    kind: SplitKind

    @property
    def market_time(self) -> bool:
        """Whether a model of this split should learn the market-time term."""
        return self.kind == "time"


def has_dates(frame: pd.DataFrame, column: str = TIME_COLUMN) -> bool:
    """Every row carries a date in ``column``."""
    return column in frame and len(frame) > 0 and bool(frame[column].notna().all())


def hold_out_split(
    frame: pd.DataFrame,
    *,
    test_fraction: float,
    seed: int,
    time_column: str = TIME_COLUMN,
    id_column: str = "listing_id",
) -> HoldOut:
    """``fit`` and ``test`` rows (``test_fraction`` of them, at least one; see the module
    docstring). Ties in time are broken by id, so the split is deterministic."""
    if not 0.0 < test_fraction < 1.0:
        raise FeatureError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(frame)
    n_test = max(1, round(n * test_fraction))
    if n - n_test < 2:
        raise FeatureError(f"{n} rows are too few to hold {n_test} out")
    ids = frame[id_column].astype(str).to_numpy()
    if has_dates(frame, time_column):
        stamps = pd.to_datetime(frame[time_column], utc=True, format="ISO8601")
        ranked = pd.DataFrame({"t": stamps.to_numpy(), "id": ids})
        order = ranked.sort_values(["t", "id"], kind="stable").index.to_numpy(dtype=np.int64)
        kind: SplitKind = "time"
    else:
        order = stable_order(frame[id_column], seed=seed)
        kind = "hash"
    ordered = frame.iloc[order].reset_index(drop=True)
    return HoldOut(fit=ordered.iloc[: n - n_test], test=ordered.iloc[n - n_test :], kind=kind)


def stable_order(listing_ids: pd.Series, *, seed: int) -> npt.NDArray[np.int64]:
    """Row positions ordered by a keyed BLAKE2b hash of each id, largest first (ties: the id).

    The rows with the largest hashes are fitted and those with the smallest held out. Hashes
    are uniform and independent of the rows around them, so new listings land in every part of
    the order and the boundary barely moves: in practice a row never goes from fit to test."""
    key = seed.to_bytes(8, "big", signed=True)
    hashes = [
        int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8, key=key).digest(), "big")
        for i in listing_ids
    ]
    ranked = pd.DataFrame({"h": hashes, "id": listing_ids.astype(str).to_numpy()})
    order = ranked.sort_values(["h", "id"], ascending=[False, True], kind="stable").index
    return order.to_numpy(dtype=np.int64)
