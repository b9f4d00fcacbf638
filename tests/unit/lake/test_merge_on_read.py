"""Merge-on-read tables read as one: delta rows replace the base rows with their key."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.engine import open_engine
from cdpflow.lake.merge_on_read import delta_file, layout_properties
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, Snapshot, TableStore
from cdpflow.settings import Settings

COLUMNS = (("k", "VARCHAR"), ("kind", "VARCHAR"), ("v", "BIGINT"))
BASE = [("a", "x", 1), ("a", "y", 2), ("b", "x", 3)]


def _file(lake: Lake, name: str, rows: list[tuple[str, str, int]]) -> tuple[str, int, int]:
    table = pa.table({c: [r[i] for r in rows] for i, (c, _) in enumerate(COLUMNS)})
    lake.makedirs("t")
    with lake.open(f"t/{name}", "wb") as handle:
        pq.write_table(table, handle)
    return name, len(rows), lake.size(f"t/{name}")


def _commit(
    tables: TableStore,
    files: list[DataFile],
    superseded_rows: int,
    columns: tuple[tuple[str, str], ...] = COLUMNS,
    delete_column: str | None = None,
) -> Snapshot:
    """Table `t` of `files`, keyed by (k, kind)."""
    return tables.commit(
        "t",
        None,
        operation="test",
        add=files,
        columns=columns,
        properties=layout_properties(
            ["k", "kind"], superseded_rows=superseded_rows, delete_column=delete_column
        ),
    )


def _engine_rows(settings: Settings, lake: Lake, tables: TableStore, sql: str) -> list[tuple]:
    """The rows of `sql` as the engine reads the lake."""
    engine = open_engine(settings, lake)
    try:
        return [tuple(r.values()) for r in engine.query(sql, tables).to_pylist()]
    finally:
        engine.close()


def test_delta_rows_replace_base_rows_with_their_key_for_every_reader(
    settings: Settings, lake: Lake
) -> None:
    tables = TableStore(lake)
    delta = [("a", "y", 20), ("c", "x", 30)]  # one update (same k and kind), one new row
    snapshot = _commit(
        tables,
        [
            DataFile(*_file(lake, "base.parquet", BASE)),
            delta_file(*_file(lake, "d.parquet", delta), "test"),
        ],
        superseded_rows=1,
    )
    assert snapshot.rows == 4
    assert _engine_rows(settings, lake, tables, "SELECT k, kind, v FROM t ORDER BY k, kind") == [
        ("a", "x", 1),
        ("a", "y", 20),
        ("b", "x", 3),
        ("c", "x", 30),
    ]


def test_a_delta_without_a_base_is_the_whole_table(settings: Settings, lake: Lake) -> None:
    tables = TableStore(lake)
    _commit(tables, [delta_file(*_file(lake, "d.parquet", [("a", "x", 1)]), "test")], 0)
    assert _engine_rows(settings, lake, tables, "SELECT count(*) AS n FROM t") == [(1,)]


def test_tombstones_hide_their_key_for_duckdb_and_arrow_readers_alike(
    settings: Settings, lake: Lake
) -> None:
    from cdpflow.lake.merge_on_read import read_table

    tables = TableStore(lake)
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
    snapshot = _commit(
        tables,
        [
            DataFile(*_file(lake, "base.parquet", BASE)),
            delta_file("d.parquet", 3, lake.size("t/d.parquet"), "test"),
        ],
        # (a, y) and (b, x) shadowed, and the tombstone of (b, x) itself not seen
        superseded_rows=3,
        columns=(*COLUMNS, ("gone", "BOOLEAN")),
        delete_column="gone",
    )
    expected = [("a", "x", 1), ("a", "y", 20), ("c", "x", 30)]
    assert snapshot.rows == len(expected)
    assert _engine_rows(settings, lake, tables, "SELECT k, kind, v FROM t ORDER BY k, kind") == (
        expected
    )
    arrow = read_table(lake, snapshot, ["k", "kind", "v"]).sort_by(
        [("k", "ascending"), ("kind", "ascending")]
    )
    assert [tuple(r.values()) for r in arrow.to_pylist()] == expected
