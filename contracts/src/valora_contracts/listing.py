"""Listing events: raw (lenient), ingested, validated and rejected.

Feature names accept both the older project's Portuguese names (``area, quartos, banheiros,
idade, garagem, bairro, preco``) and English names; events serialise with the English names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Gt
from pydantic import AliasChoices, AllowInfNan, AwareDatetime, BaseModel, ConfigDict, Field

from valora_contracts.envelope import (
    JSON_NUMBER,
    CleanStr,
    Envelope,
    FiniteFloat,
    Text,
    Version,
    WholeNumber,
)

__all__ = [
    "FEATURE_ALIASES",
    "IngestedListing",
    "ListingFeatures",
    "RawListing",
    "RejectedListing",
    "RuleViolation",
    "ValidatedListing",
]

FEATURE_ALIASES: dict[str, str] = {
    "area": "area",
    "quartos": "bedrooms",
    "banheiros": "bathrooms",
    "idade": "age",
    "garagem": "garage",
    "bairro": "neighbourhood",
    "preco": "price",
}
"""Portuguese (older API) name -> English name."""


def _alias(english: str, portuguese: str | None = None) -> AliasChoices:
    if portuguese is None or portuguese == english:
        return AliasChoices(english)
    return AliasChoices(english, portuguese)


Price = Annotated[float, Gt(0), AllowInfNan(False), JSON_NUMBER]
"""A price: a finite number above zero."""

MAX_COUNT = 10_000
"""Physical-sanity bound of counts (bedrooms, bathrooms, parking spaces); the data contract's
ranges are far narrower. Without it a 2**67 would pass and break 64-bit encoders downstream."""
MAX_AREA = 1_000_000.0
"""Physical-sanity bound of an area in m² (a square kilometre); the data contract's is narrower."""
MAX_AGE = 10_000.0
"""Physical-sanity bound of a building's age in years."""


class ListingFeatures(BaseModel):
    """The model's input features. Types and physical sanity only; ranges are the validator's."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    area: FiniteFloat = Field(
        gt=0,
        le=MAX_AREA,
        validation_alias=_alias("area"),
        description="Living area in square metres.",
    )
    bedrooms: WholeNumber = Field(
        ge=0,
        le=MAX_COUNT,
        validation_alias=_alias("bedrooms", "quartos"),
        description="Number of bedrooms.",
    )
    bathrooms: WholeNumber = Field(
        ge=0,
        le=MAX_COUNT,
        validation_alias=_alias("bathrooms", "banheiros"),
        description="Number of bathrooms.",
    )
    age: FiniteFloat = Field(
        ge=0,
        le=MAX_AGE,
        validation_alias=_alias("age", "idade"),
        description="Age of the building in years.",
    )
    garage: WholeNumber = Field(
        ge=0,
        le=MAX_COUNT,
        validation_alias=_alias("garage", "garagem"),
        description="Parking spaces.",
    )
    neighbourhood: CleanStr = Field(
        validation_alias=_alias("neighbourhood", "bairro"), description="Neighbourhood name."
    )


class RawListing(BaseModel):
    """What producers publish to the ingest topic: lenient, any naming, any extra fields.

    Ingestion normalises it; this model only documents the accepted shape.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    listing_id: str | None = Field(
        default=None, max_length=200, description="Producer's id, if any."
    )
    source: str | None = Field(default=None, max_length=200, description="Producer or feed name.")
    listed_at: str | None = Field(
        default=None, max_length=64, description="When listed (ISO 8601), if known."
    )
    area_unit: Literal["m2", "sqft"] | None = Field(
        default=None, description="Unit of ``area``: square metres (default) or square feet."
    )
    area: Any = Field(default=None, description="Area (``area``).")
    bedrooms: Any = Field(
        default=None,
        validation_alias=_alias("bedrooms", "quartos"),
        description="Bedrooms (``bedrooms`` or ``quartos``).",
    )
    bathrooms: Any = Field(
        default=None,
        validation_alias=_alias("bathrooms", "banheiros"),
        description="Bathrooms (``bathrooms`` or ``banheiros``).",
    )
    age: Any = Field(
        default=None,
        validation_alias=_alias("age", "idade"),
        description="Age in years (``age`` or ``idade``).",
    )
    garage: Any = Field(
        default=None,
        validation_alias=_alias("garage", "garagem"),
        description="Parking spaces (``garage`` or ``garagem``).",
    )
    neighbourhood: Any = Field(
        default=None,
        validation_alias=_alias("neighbourhood", "bairro"),
        description="Neighbourhood (``neighbourhood`` or ``bairro``).",
    )
    price: Any = Field(
        default=None,
        validation_alias=_alias("price", "preco"),
        description="Asking or sale price (``price`` or ``preco``), if known.",
    )


class IngestedListing(Envelope):
    """A listing normalised by ingestion: English names, area in m², deterministic id."""

    listing_id: CleanStr = Field(description="Deterministic listing id (producer's or derived).")
    source: CleanStr = Field(description="Producer or feed the listing came from.")
    ingested_at: AwareDatetime = Field(description="When ingestion accepted the listing.")
    listed_at: AwareDatetime | None = Field(default=None, description="When it was listed.")
    features: ListingFeatures = Field(description="Normalised features.")
    price: Price | None = Field(
        default=None, description="Price label in currency units, when present."
    )
    content_hash: str = Field(
        min_length=1,
        max_length=128,
        strict=True,
        description="Hash of the normalised content (de-duplication key).",
    )


class ValidatedListing(IngestedListing):
    """A listing that passed the data contract."""

    contract_version: Version = Field(description="Version of the data contract it passed.")


class RuleViolation(BaseModel):
    """One failed data-contract rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: CleanStr = Field(description="Rule name from the data contract.")
    field: CleanStr | None = Field(default=None, description="Field the rule is about, if one.")
    message: Text = Field(description="Human-readable reason.")


class RejectedListing(IngestedListing):
    """A listing that failed the data contract, with every failed rule."""

    contract_version: Version = Field(description="Version of the data contract it failed.")
    violations: list[RuleViolation] = Field(
        min_length=1, max_length=100, description="Every failed rule."
    )
