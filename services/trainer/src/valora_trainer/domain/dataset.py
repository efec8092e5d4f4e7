"""Snapshot and split: what a run trains on, and how it is divided.

The store's frame has ``listing_id``, the six feature columns, ``price`` (the label: the sale
price when one was observed, else the listing's price), ``listed_at`` (may be null) and
``source``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from valora_ml.features import FEATURE_COLUMNS

from valora_trainer.errors import InsufficientDataError

__all__ = [
    "LABEL",
    "DataSplit",
    "SnapshotInfo",
    "describe_snapshot",
    "split_frame",
]

LABEL = "price"
_HASHED = ("listing_id", *FEATURE_COLUMNS, LABEL)


@dataclass(frozen=True)
class SnapshotInfo:
    """Lineage of a training dataset: size, content hash and time range."""

    rows: int
    content_hash: str
    listed_from: datetime | None
    listed_to: datetime | None

    def params(self) -> dict[str, str]:
        return {
            "snapshot.rows": str(self.rows),
            "snapshot.content_hash": self.content_hash,
            "snapshot.listed_from": self.listed_from.isoformat() if self.listed_from else "",
            "snapshot.listed_to": self.listed_to.isoformat() if self.listed_to else "",
        }


def describe_snapshot(frame: pd.DataFrame) -> SnapshotInfo:
    """Row count, an order-independent content hash and the listing time range."""
    ordered = frame.sort_values("listing_id", kind="stable")[list(_HASHED)]
    hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    digest = hashlib.sha256(hashes.tobytes()).hexdigest()
    listed = (
        pd.to_datetime(frame["listed_at"], utc=True).dropna()
        if "listed_at" in frame
        else pd.Series([], dtype="datetime64[ns, UTC]")
    )
    return SnapshotInfo(
        rows=len(frame),
        content_hash=digest,
        listed_from=pd.Timestamp(listed.min()).to_pydatetime() if len(listed) else None,
        listed_to=pd.Timestamp(listed.max()).to_pydatetime() if len(listed) else None,
    )


@dataclass(frozen=True)
class DataSplit:
    train: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    strategy: Literal["time", "random"]


def split_frame(
    frame: pd.DataFrame,
    *,
    calibration_fraction: float,
    test_fraction: float,
    seed: int,
    min_rows: int = 10,
) -> DataSplit:
    """Train / calibration / test. Time-ordered (oldest trains, newest tests) when every row has
    ``listed_at``; otherwise ordered by a seeded hash of ``listing_id`` (:func:`_stable_order`).

    The hash order keeps each listing's role as the store grows: a listing that trained the
    champion does not become a test row of a later snapshot, so the gate's comparison of a
    challenger with the champion on the challenger's test rows stays fair (a champion scored on
    its own training rows looks better than it is and wins the gate unfairly)."""
    n = len(frame)
    if n < min_rows:
        raise InsufficientDataError(f"{n} labelled rows, at least {min_rows} needed")
    has_time = "listed_at" in frame and bool(frame["listed_at"].notna().all())
    if has_time:
        order = frame.assign(_t=pd.to_datetime(frame["listed_at"], utc=True)).sort_values(
            ["_t", "listing_id"], kind="stable"
        )
        ordered = order.drop(columns="_t")
    else:
        ordered = frame.iloc[_stable_order(frame["listing_id"], seed=seed)]
    n_test = max(1, round(n * test_fraction))
    n_cal = max(1, round(n * calibration_fraction))
    n_train = n - n_test - n_cal
    if n_train < 1:
        raise InsufficientDataError(f"{n} rows leave no training rows")
    ordered = ordered.reset_index(drop=True)
    return DataSplit(
        train=ordered.iloc[:n_train],
        calibration=ordered.iloc[n_train : n_train + n_cal],
        test=ordered.iloc[n_train + n_cal :],
        strategy="time" if has_time else "random",
    )


def _stable_order(listing_ids: pd.Series, *, seed: int) -> npt.NDArray[np.int64]:
    """Row positions ordered by a keyed BLAKE2b hash of each id, largest first (ties: the id).

    The rows with the largest hashes train and those with the smallest test. Hashes are uniform
    and independent of the rows around them, so new listings land in every part of the order
    and the quantile boundaries barely move: in practice a row never goes from train to test."""
    key = seed.to_bytes(8, "big", signed=True)
    hashes = [
        int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8, key=key).digest(), "big")
        for i in listing_ids
    ]
    ranked = pd.DataFrame({"h": hashes, "id": listing_ids.astype(str).to_numpy()})
    order = ranked.sort_values(["h", "id"], ascending=[False, True], kind="stable").index
    return order.to_numpy(dtype=np.int64)
