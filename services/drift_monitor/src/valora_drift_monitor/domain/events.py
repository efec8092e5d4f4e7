"""What the drift monitor reads of a consumed record: only the fields drift needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["FeatureRow", "ListingEvent", "PredictionEvent"]

FeatureRow = tuple[float, float, float, float, float, str]
"""area, bedrooms, bathrooms, age, garage, neighbourhood (the order of ``NUMERIC_INPUTS``)."""


@dataclass(frozen=True, slots=True)
class ListingEvent:
    """A ``ValidatedListing``: its features for the data window, its price as a late label."""

    event_id: str
    listing_id: str
    occurred_at: datetime
    price: float | None
    row: FeatureRow


@dataclass(frozen=True, slots=True)
class PredictionEvent:
    """A ``PredictionMade``: its price for the prediction window and the label join."""

    event_id: str
    occurred_at: datetime
    listing_id: str | None
    price: float
    model_name: str
    model_version: str
    neighbourhood: str
    expected_abs_error: float | None = None
    """The model's estimate of this prediction's absolute error (``None``: none)."""
    asking_price: float | None = None
    """The streamed listing's own price, when it carried one (``None``: none)."""
