"""valora_ml.listing_files: the one reader of listing files (CLI publishing, gateway uploads)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
from valora_ml.listing_files import (
    BadRow,
    ListingFileError,
    ListingRow,
    listing_format,
    read_listing_bytes,
    read_listing_file,
)

pytestmark = pytest.mark.unit

HEADER = "listing_id,area,quartos,banheiros,idade,garagem,bairro,preco\n"


def _bytes_and_file(tmp_path: Path, name: str, data: bytes) -> list[list[object]]:
    path = tmp_path / name
    path.write_bytes(data)
    fmt = listing_format(name)
    return [list(read_listing_bytes(data, fmt)), list(read_listing_file(path))]


def test_csv_rows_good_and_bad_are_the_same_from_bytes_and_from_a_file(tmp_path: Path) -> None:
    data = (
        "\ufeff" + HEADER + " A , 100 ,2,1,5,1,Centro,\n"  # BOM, padded cells, empty price
        "B,80,2,1\n"
        "C,90,2,1,3,0,,300000\n"
        "D,100,2,1,3,0,Sul,1,extra\n"
    ).encode()
    for rows in _bytes_and_file(tmp_path, "h.csv", data):
        assert rows == [
            ListingRow(0, 2, {"listing_id": "A", "area": "100", "quartos": "2", "banheiros": "1",
                              "idade": "5", "garagem": "1", "bairro": "Centro"}),
            BadRow(1, 3, "fewer cells than header columns"),
            BadRow(2, 4, "missing feature(s): neighbourhood"),
            BadRow(3, 5, "more cells than header columns"),
        ]  # fmt: skip


def test_tab_separated_files_are_read_as_csv(tmp_path: Path) -> None:
    data = HEADER.replace(",", "\t").encode() + b"A\t100\t2\t1\t5\t1\tZona Sul\t9\n"
    for rows in _bytes_and_file(tmp_path, "h.tsv", data):
        (row,) = rows
        assert isinstance(row, ListingRow)
        assert row.values["bairro"] == "Zona Sul"


def test_jsonl_bad_lines_are_bad_rows_and_blank_lines_are_not_rows(tmp_path: Path) -> None:
    good = {"area": 1, "bedrooms": 1, "bathrooms": 1, "age": 1, "garage": 0, "neighbourhood": "X"}
    data = orjson.dumps(good) + b"\n\n{bad\n[1]\n" + orjson.dumps({**good, "age": None}) + b"\n"
    for rows in _bytes_and_file(tmp_path, "h.jsonl", data):
        assert [type(r).__name__ for r in rows] == ["ListingRow", "BadRow", "BadRow", "BadRow"]
        assert [(r.index, r.line) for r in rows] == [(0, 1), (1, 3), (2, 4), (3, 5)]
        assert isinstance(rows[1], BadRow)
        assert rows[1].reason.startswith("invalid JSON")
        assert rows[2] == BadRow(2, 4, "expected a JSON object, got list")
        assert rows[3] == BadRow(3, 5, "missing feature(s): age")


def test_parquet_nan_reads_as_absent(tmp_path: Path) -> None:
    house = {
        "area": 1.0,
        "bedrooms": 1,
        "bathrooms": 1,
        "age": 2.0,
        "garage": 0,
        "neighbourhood": "X",
    }
    path = tmp_path / "h.parquet"
    pd.DataFrame([house, {**house, "area": float("nan")}]).to_parquet(path)
    for rows in (
        list(read_listing_file(path)),
        list(read_listing_bytes(path.read_bytes(), "parquet")),
    ):
        assert rows[0] == ListingRow(0, 1, house)
        assert rows[1] == BadRow(1, 2, "missing feature(s): area")


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("csv", b"area,quartos\n\xff\xfe,1\n"),  # not UTF-8
        ("csv", HEADER.encode() + b"A," + b"9" * 140_000 + b",1\n"),  # over csv's field limit
        ("parquet", b"PAR1 not really"),
    ],
    ids=["not-utf8", "malformed-csv", "bad-parquet"],
)
def test_whole_file_problems_raise(fmt: str, data: bytes) -> None:
    with pytest.raises(ListingFileError):
        list(read_listing_bytes(data, fmt))  # type: ignore[arg-type]


def test_empty_files_have_no_rows() -> None:
    assert list(read_listing_bytes(b"", "csv")) == []
    assert list(read_listing_bytes(HEADER.encode(), "csv")) == []
    assert list(read_listing_bytes(b"\n\n", "jsonl")) == []


def test_format_from_name_then_content_type() -> None:
    assert listing_format("x.JSONL") == "jsonl"
    assert listing_format("x.ndjson", "text/csv") == "jsonl"  # the name wins
    assert listing_format(None, "text/csv; charset=utf-8") == "csv"
    assert listing_format("upload", "application/json") == "jsonl"
    assert listing_format("x.pq") == "parquet"
    with pytest.raises(ListingFileError):
        listing_format("x.xlsx", "application/octet-stream")
