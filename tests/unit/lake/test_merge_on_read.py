"""Merge-on-read tables read as one: delta rows replace the base rows with their key."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.engine import open_engine
from cdpflow.lake.merge_on_read import delta_file, layout_properties
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings

COLUMNS = (("k", "VARCHAR"), ("kind", "VARCHAR"), ("v", "BIGINT"))


def _file(lake: Lake, name: str, rows: list[tuple[str, str, int]]) -> tuple[str, int, int]:
    table = pa.table({c: [r[i] for r in rows] for i, (c, _) in enumerate(COLUMNS)})
    lake.makedirs("t")
    with lake.open(f"t/{name}", "wb") as handle:
        pq.write_table(table, handle)
    return name, len(rows), lake.size(f"t/{name}")


def test_delta_rows_replace_base_rows_with_their_key_for_every_reader(
    settings: Settings, lake: Lake
) -> None:
    tables = TableStore(lake)
    base = [("a", "x", 1), ("a", "y", 2), ("b", "x", 3)]
    delta = [("a", "y", 20), ("c", "x", 30)]  # one update (same k and kind), one new row
    snapshot = tables.commit(
        "t",
        None,
        operation="test",
        add=[
            DataFile(*_file(lake, "base.parquet", base)),
            delta_file(*_file(lake, "d.parquet", delta), "test"),
        ],
        columns=COLUMNS,
        properties=layout_properties(["k", "kind"], superseded_rows=1),
    )
    assert snapshot.rows == 4
    engine = open_engine(settings, lake)
    try:
        rows = engine.query("SELECT k, kind, v FROM t ORDER BY k, kind", tables).to_pylist()
    finally:
        engine.close()
    assert [tuple(r.values()) for r in rows] == [
        ("a", "x", 1),
        ("a", "y", 20),
        ("b", "x", 3),
        ("c", "x", 30),
    ]


def test_a_delta_without_a_base_is_the_whole_table(settings: Settings, lake: Lake) -> None:
    tables = TableStore(lake)
    tables.commit(
        "t",
        None,
        operation="test",
        add=[delta_file(*_file(lake, "d.parquet", [("a", "x", 1)]), "test")],
        columns=COLUMNS,
        properties=layout_properties(["k", "kind"], superseded_rows=0),
    )
    engine = open_engine(settings, lake)
    try:
        assert engine.query("SELECT count(*) AS n FROM t", tables).to_pylist() == [{"n": 1}]
    finally:
        engine.close()


def test_tombstones_hide_their_key_for_duckdb_and_arrow_readers_alike(
    settings: Settings, lake: Lake
) -> None:
    from cdpflow.lake.merge_on_read import read_table

    tables = TableStore(lake)
    base = [("a", "x", 1), ("a", "y", 2), ("b", "x", 3)]
    lake.makedirs("t")
    changes = pa.table(
        {
            "k": ["a", "b", "c"],
            "kind": ["y", "x", "x"],
            "v": [20, None, 30],
            "gone": [False, True, False],
        }
    )
    with lake.open("t/d.parquet", "wb") as handle:
        pq.write_table(changes, handle)
    snapshot = tables.commit(
        "t",
        None,
        operation="test",
        add=[
            DataFile(*_file(lake, "base.parquet", base)),
            delta_file("d.parquet", 3, lake.size("t/d.parquet"), "test"),
        ],
        columns=(*COLUMNS, ("gone", "BOOLEAN")),
        # (a, y) and (b, x) shadowed, and the tombstone of (b, x) itself not seen
        properties=layout_properties(["k", "kind"], superseded_rows=3, delete_column="gone"),
    )
    expected = [("a", "x", 1), ("a", "y", 20), ("c", "x", 30)]
    assert snapshot.rows == len(expected)
    engine = open_engine(settings, lake)
    try:
        rows = engine.query("SELECT k, kind, v FROM t ORDER BY k, kind", tables).to_pylist()
    finally:
        engine.close()
    assert [tuple(r.values()) for r in rows] == expected
    arrow = read_table(lake, snapshot, ["k", "kind", "v"]).sort_by(
        [("k", "ascending"), ("kind", "ascending")]
    )
    assert [tuple(r.values()) for r in arrow.to_pylist()] == expected
