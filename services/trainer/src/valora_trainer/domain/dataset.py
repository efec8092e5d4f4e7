"""The snapshot: what a run trains on (its split is :func:`valora_ml.splitting.hold_out_split`).

The store's frame has ``listing_id``, the six feature columns, ``price`` (the label: the sale
price when one was observed, else the listing's price), ``listed_at`` (the date that price
refers to: the sale date, else the listing date; may be null) and ``source``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from valora_ml.features import FEATURE_COLUMNS, TIME_COLUMN

__all__ = ["LABEL", "SnapshotInfo", "describe_snapshot"]

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
    if TIME_COLUMN in frame:  # dates teach a market-time model too (one unit: ns, UTC)
        dates = pd.to_datetime(frame[TIME_COLUMN], utc=True).astype("datetime64[ns, UTC]")
        ordered = ordered.assign(**{TIME_COLUMN: dates})
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
