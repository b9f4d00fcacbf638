"""What every DuckDB module of the engine shares: connections whose days are UTC days, SQL
quoting, Parquet row counts. A leaf: it imports nothing of the engine, so the modules that use it
(the engine, its events workers, identity, analytics, ELT) never import one another for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parquet_row_counts(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> dict[str, int]:
    """Rows per Parquet file (by path), from the files' footers."""
    if not files:
        return {}
    listed = ", ".join(literal(str(f)) for f in files)
    query = f"SELECT file_name, num_rows FROM parquet_file_metadata([{listed}])"
    return {str(name): int(rows) for name, rows in con.execute(query).fetchall()}


def connect(
    database: str = ":memory:", config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose days are UTC days (event_date, session_date, ...): DuckDB casts
    a TIMESTAMPTZ to a DATE in the session's time zone, which is the host's unless set."""
    con = duckdb.connect(database, config=config or {})
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con
