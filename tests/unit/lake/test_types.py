"""Snapshots record column types in the lake's own names, whatever spelling a writer used."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pytest

from cdpflow.engine.duckdb_scan import duckdb_type
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.lake.types import UnknownTypeError, neutral

CASES = [
    # (DuckDB's name, Arrow's type, the lake's name)
    ("VARCHAR", pa.string(), "string"),
    ("BIGINT", pa.int64(), "int64"),
    ("DOUBLE", pa.float64(), "float64"),
    ("BOOLEAN", pa.bool_(), "boolean"),
    ("DATE", pa.date32(), "date"),
    ("TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC"), "timestamp"),
    ("TIMESTAMP", pa.timestamp("us"), "timestamp_ntz"),
    ("DECIMAL(18,3)", pa.decimal128(18, 3), "decimal(18,3)"),
    ("VARCHAR[]", pa.list_(pa.string()), "list<string>"),
    ("MAP(VARCHAR, BIGINT)", pa.map_(pa.string(), pa.int64()), "map<string, int64>"),
    (
        'STRUCT(id BIGINT, "first name" VARCHAR, tags VARCHAR[])[]',
        pa.list_(
            pa.struct(
                [("id", pa.int64()), ("first name", pa.string()), ("tags", pa.list_(pa.string()))]
            )
        ),
        'list<struct<id: int64, "first name": string, tags: list<string>>>',
    ),
]


@pytest.mark.parametrize(("duckdb_name", "arrow", "lake"), CASES)
def test_duckdb_and_arrow_spellings_give_one_lake_name_that_maps_back(duckdb_name, arrow, lake):
    assert neutral(duckdb_name) == neutral(arrow) == neutral(lake) == lake
    # DuckDB itself takes the name it is given back, and describes it as the same lake type
    described = duckdb.sql(f"SELECT CAST(NULL AS {duckdb_type(lake)}) AS c").types[0]
    assert neutral(str(described)) == lake


def test_json_keeps_its_meaning():
    assert neutral("JSON") == "json" and duckdb_type("json") == "JSON"


@pytest.mark.parametrize("text", ["GEOMETRY", "list<string", "map<string>", "VARCHAR VARCHAR", ""])
def test_a_type_the_lake_does_not_know_is_refused_by_name(text):
    with pytest.raises(UnknownTypeError, match="is not one the lake records"):
        neutral(text)


def test_a_snapshot_an_older_version_wrote_in_duckdb_names_reads_in_lake_names(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    tables = TableStore(lake)
    written = tables.commit(
        "t", None, operation="test", columns=[("at", "TIMESTAMP WITH TIME ZONE")]
    )
    assert written.columns == (("at", "timestamp"),)
    path = "t/_snapshots/v00000001.json"
    raw = orjson.loads(lake.read_bytes(path))
    raw["columns"] = [["at", "TIMESTAMP WITH TIME ZONE"], ["n", "BIGINT"]]
    lake.remove(path)
    lake.write_bytes(path, orjson.dumps(raw))
    assert tables.get("t").columns == (("at", "timestamp"), ("n", "int64"))


@pytest.mark.parametrize(("duckdb_name", "arrow", "lake"), CASES)
def test_a_lake_type_gives_back_its_arrow_type(duckdb_name, arrow, lake):
    from cdpflow.lake.types import to_arrow

    assert to_arrow(lake) == arrow
