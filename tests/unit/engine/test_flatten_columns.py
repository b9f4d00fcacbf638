"""The flatten's columns as declared are the statement's: a worker makes its tables from the
declaration (without planning the statement), then inserts the statement's rows by position."""

from __future__ import annotations

from pathlib import Path

from cdpflow.engine import duckdb_events
from cdpflow.engine.duckdb_common import connect
from cdpflow.engine.duckdb_events import EventsWorker
from cdpflow.engine.duckdb_sql import FLATTEN_COLUMNS
from cdpflow.lake.storage import Lake


def test_the_declared_columns_are_the_flatten_statements(tmp_path: Path) -> None:
    con = connect(config={"threads": 1})
    try:
        EventsWorker(con, Lake(str(tmp_path / "lake")), 1 << 20, 1 << 20, 500_000_000)
        con.register("_chunk", duckdb_events._NO_CHUNK)
        described = con.execute("DESCRIBE SELECT * FROM _flattened_lines").fetchall()
    finally:
        con.close()
    assert [(name, kind) for name, kind, *_ in described] == list(FLATTEN_COLUMNS)
