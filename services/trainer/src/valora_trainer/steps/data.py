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
    ``listed_at``; otherwise a seeded random permutation. Ties are broken by ``listing_id``."""
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
        by_id = frame.sort_values("listing_id", kind="stable")
        ordered = by_id.iloc[np.random.default_rng(seed).permutation(n)]
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
