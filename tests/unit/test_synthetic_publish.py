"""``valora listings publish``: file reading (row numbers, reasons) and argument checks.

Publishing itself needs Kafka and is covered by the data-path integration test.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner
from valora_cli.listings import app, read_rows
from valora_ml.listing_files import BadRow, ListingRow

pytestmark = pytest.mark.unit


def test_csv_rows_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "area,quartos,banheiros,idade,garagem,bairro,preco\n"
        "120,3,2,5,1,Centro,450000\n"
        "80,2,1\n"
        "90,2,1,3,0,,300000\n"
        "100,2,1,3,0,Zona Sul,300000,extra\n"
    )
    rows = list(read_rows(path))
    assert isinstance(rows[0], ListingRow)
    assert rows[0].values == {
        "area": "120",
        "quartos": "3",
        "banheiros": "2",
        "idade": "5",
        "garagem": "1",
        "bairro": "Centro",
        "preco": "450000",
    }
    assert rows[1:] == [
        BadRow(1, 3, "fewer cells than header columns"),
        BadRow(2, 4, "missing feature(s): neighbourhood"),
        BadRow(3, 5, "more cells than header columns"),
    ]


def test_jsonl_and_parquet(tmp_path: Path) -> None:
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text(
        '{"area":1,"bedrooms":1,"bathrooms":1,"age":1,"garage":0,'
        '"neighbourhood":"X"}\n\n{bad\n[1]\n'
    )
    rows = list(read_rows(jsonl))
    assert isinstance(rows[0], ListingRow)
    assert [r.line for r in rows[1:] if isinstance(r, BadRow)] == [3, 4]
    parquet = tmp_path / "h.parquet"
    pd.DataFrame(
        [
            {
                "area": 1.0,
                "bedrooms": 1,
                "bathrooms": 1,
                "age": 2.0,
                "garage": 0,
                "neighbourhood": "X",
            },
            {
                "area": None,
                "bedrooms": 1,
                "bathrooms": 1,
                "age": 2.0,
                "garage": 0,
                "neighbourhood": "X",
            },
        ]
    ).to_parquet(parquet)
    rows = list(read_rows(parquet))
    assert rows[1] == BadRow(1, 2, "missing feature(s): area")


@pytest.mark.parametrize(
    "args",
    [
        ["publish"],
        ["publish", "--synthetic", "10", "--drift", "teleport:x=1"],
        ["publish", "--synthetic", "10", "--drift", "shift:colour=2"],
    ],
)
def test_bad_arguments_fail_before_publishing(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
