"""Realised prices, arriving late."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from valora_contracts.envelope import CleanStr, Envelope, FiniteFloat

__all__ = ["SaleObserved"]


class SaleObserved(Envelope):
    """A listing sold: its realised price is the late label."""

    listing_id: CleanStr = Field(description="Listing that sold.")
    sale_price: FiniteFloat = Field(gt=0, description="Realised sale price.")
    sold_at: AwareDatetime = Field(description="When it sold.")
